#!/usr/bin/env bash
# Seed the fuzz corpus from protocol/vectors/ (idempotent): every vector, as a request or server
# message, prefixed with the selector byte the targets read (fuzz/fuzz_targets/checks.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
for vector in protocol/vectors/*.json protocol/vectors/*.msgpack; do
    name="$(basename "$vector")"
    case "$name" in *.json) wire=1 ;; *) wire=0 ;; esac
    # decode_frame: even selector MessagePack, odd JSON.
    { printf "\\x$(printf %02x $wire)"; cat "$vector"; } >"fuzz/corpus/decode_frame/seed-$name"
    # command_path: client requests only, from the creator (0), a viewer (2) and a granted agency (3).
    case "$name" in client_*)
        for who in 0 2 3; do
            selector=$((who | (wire << 7)))
            { printf "\\x$(printf %02x $selector)"; cat "$vector"; } >"fuzz/corpus/command_path/seed-$who-$name"
        done
    esac
done
