//! One upstream connection: TCP, or TLS over it (rustls, HTTP/1.1 by ALPN), opened
//! within the connect timeout.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Where a request goes: scheme, host (without IPv6 brackets) and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub tls: bool,
    pub host: Box<str>,
    pub port: u16,
}

impl Target {
    pub fn of(uri: &http::Uri) -> Result<Target, String> {
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("upstream URL must start with http:// or https://".into()),
        };
        let host = uri
            .host()
            .ok_or("upstream URL has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']');
        Ok(Target {
            tls,
            host: host.into(),
            port: uri.port_u16().unwrap_or(if tls { 443 } else { 80 }),
        })
    }
}

/// The TLS settings, built once: the platform verifier (system roots, or
/// `SSL_CERT_FILE` / `SSL_CERT_DIR` when set) as reqwest uses it, HTTP/1.1 offered.
fn tls() -> Result<Arc<rustls::ClientConfig>, String> {
    static TLS: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    TLS.get_or_init(|| {
        use rustls_platform_verifier::ConfigVerifierExt;
        let mut c = rustls::ClientConfig::with_platform_verifier()
            .map_err(|e| format!("TLS roots: {e}"))?;
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(c))
    })
    .clone()
}

/// Opens a connection to `t` (TCP connect and TLS handshake both within `timeout`).
pub async fn connect(t: &Target, timeout: Duration) -> Result<Conn, String> {
    let open = async {
        let tcp = TcpStream::connect((&*t.host, t.port))
            .await
            .map_err(|e| format!("tcp connect error: {e}"))?;
        tcp.set_nodelay(true)
            .map_err(|e| format!("tcp connect error: {e}"))?;
        if !t.tls {
            return Ok(Conn::Plain(tcp));
        }
        let name = rustls::pki_types::ServerName::try_from(t.host.to_string())
            .map_err(|e| format!("invalid TLS server name: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(tls()?)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        Ok(Conn::Tls(Box::new(tls)))
    };
    tokio::time::timeout(timeout, open)
        .await
        .map_err(|_| format!("connect timed out after {} s", timeout.as_secs_f32()))?
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(t) => t,
            Conn::Tls(t) => t.get_ref().0,
        }
    }

    /// Whether an idle connection can carry a request: not closed by the upstream and,
    /// for plain HTTP, with nothing unasked-for waiting (TLS may have a record such as
    /// a session ticket; a connection closed meanwhile is retried anyway).
    pub fn usable(&self) -> bool {
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match self.tcp().poll_peek(&mut cx, &mut buf) {
            Poll::Pending => true,
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(_)) => matches!(self, Conn::Tls(_)),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(t) => Pin::new(t).poll_read(cx, buf),
            Conn::Tls(t) => Pin::new(t.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(t) => Pin::new(t).poll_write(cx, buf),
            Conn::Tls(t) => Pin::new(t.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(t) => Pin::new(t).poll_flush(cx),
            Conn::Tls(t) => Pin::new(t.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(t) => Pin::new(t).poll_shutdown(cx),
            Conn::Tls(t) => Pin::new(t.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_take_the_scheme_default_port_and_drop_ipv6_brackets() {
        let t = |u: &str| Target::of(&u.parse().expect("uri"));
        assert_eq!(
            t("https://api.anthropic.com/v1/messages"),
            Ok(Target {
                tls: true,
                host: "api.anthropic.com".into(),
                port: 443
            })
        );
        assert_eq!(
            t("http://[::1]:8317/x"),
            Ok(Target {
                tls: false,
                host: "::1".into(),
                port: 8317
            })
        );
        assert!(t("ftp://h/").expect_err("refused").contains("http://"));
    }

    #[tokio::test]
    async fn an_idle_connection_closed_by_the_peer_is_not_usable() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let t = Target {
            tls: false,
            host: "127.0.0.1".into(),
            port: addr.port(),
        };
        let c = connect(&t, Duration::from_secs(5)).await.expect("connect");
        let (peer, _) = l.accept().await.expect("accept");
        assert!(c.usable());
        drop(peer);
        // The FIN arrives asynchronously.
        for _ in 0..100 {
            if !c.usable() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("a closed connection still looked usable");
    }

    #[tokio::test]
    async fn connect_errors_say_what_failed() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        let t = Target {
            tls: false,
            host: "127.0.0.1".into(),
            port,
        };
        let e = connect(&t, Duration::from_secs(5))
            .await
            .err()
            .expect("refused");
        assert!(e.starts_with("tcp connect error:"), "{e}");
    }
}
