//! The connection's socket as the WebSocket layer reads it.
//!
//! tokio-tungstenite reads and parses the client's frames from this adapter. Its reads go straight
//! to the socket (after any bytes hyper read past the handshake); its own writes — the pong that
//! answers a ping, the echo of a client's close — go through the connection's [`Outbox`] like every
//! other frame, so they never interleave with ours. Both halves use the socket by shared
//! reference: there is no split and no lock between reading and writing.

use crate::delivery::frame::Frame;
use crate::delivery::outbox::Outbox;
use bytes::{Buf, Bytes};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub struct WsIo {
    outbox: Outbox,
    /// Bytes read from the socket before the upgrade finished, served first.
    early: Bytes,
}

impl WsIo {
    pub fn new(outbox: Outbox, early: Bytes) -> Self {
        // `early` is a view into hyper's read buffer (kilobytes): copy what it holds, so the
        // buffer is freed rather than kept for the life of the connection.
        WsIo { outbox, early: Bytes::copy_from_slice(&early) }
    }
}

impl AsyncRead for WsIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.early.has_remaining() {
            let n = self.early.len().min(buf.remaining());
            buf.put_slice(&self.early[..n]);
            self.early.advance(n);
            return Poll::Ready(Ok(()));
        }
        let Some(socket) = self.outbox.socket() else {
            return Poll::Ready(Ok(()));
        };
        loop {
            ready!(socket.poll_read_ready(cx))?;
            match socket.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Readiness was stale: poll again, which registers for the next edge.
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl AsyncWrite for WsIo {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        // tungstenite hands over whole frames; once the connection is closing they are not
        // needed (our close frame is already queued).
        self.outbox.reply(&Frame::raw(Bytes::copy_from_slice(buf)));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
