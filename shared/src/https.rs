//! The one place Chasqui's HTTPS clients are built, and what they trust.
//!
//! Two clients, two trust stores, each the narrowest that serves it. Both
//! are compiled into the binary: nothing is read from the filesystem, and
//! nothing is parsed at start beyond five small certificates.
//!
//! **The AWS SDK's clients** (Secrets Manager, SQS, DynamoDB, and the
//! credentials chain's) trust **the five roots of Amazon Trust Services**:
//! Amazon Root CA 1 to 4 and Starfield Services Root Certificate Authority
//! G2, embedded as PEM (`https/amazon-trust-services.pem`, with each one's
//! SHA-256 fingerprint). Every AWS service endpoint these clients reach
//! serves a certificate issued by Amazon Trust Services, which chains to one
//! of them (AWS moved its service endpoints to ATS by 2021, not re-checked
//! live from a machine without internet; Starfield G2 is the cross-signing
//! root ATS's older chains end at). They are roots of Mozilla's programme
//! (a test checks each is the same trust anchor as in `webpki-roots`), as
//! in the `ca-certificates` store of Lambda's `provided.al2023` image,
//! which is built from Mozilla's list: nothing that verifies on Lambda with
//! the system store and talks to AWS fails here. Not covered: the China
//! partition (`amazonaws.com.cn`), which we have not checked, and any
//! endpoint that is not AWS's behind `AWS_ENDPOINT_URL` over `https://` (a
//! local emulator uses plain `http://`, which needs no roots).
//!
//! *Why only these:* the SDK takes its roots as PEM only, and building and
//! decoding (constant-time base64) a bundle of Mozilla's 118 roots took
//! about 2 ms in a hot loop, these five a few microseconds; end to end,
//! 0.4 to 0.6 ms of CPU per cold start (`docs/benchmarks.md`, "Cold start
//! and memory"). It also narrows who can vouch for an AWS endpoint from 118
//! CAs to the one that does. They expire in 2037 to 2040; a new ATS root
//! would have to be added here.
//!
//! **The Cloud API client** (`reqwest`, `graph.facebook.com`) trusts
//! **Mozilla's root programme** (the roots with the websites trust bit,
//! the set Firefox accepts a server with), compiled in by `webpki-roots` as
//! pre-parsed trust anchors, so the client is built without parsing a
//! certificate. Meta's endpoint is a website any browser opens; its chain
//! ends at DigiCert (DigiCert Global Root G2 is in the list, a test checks
//! it; `openssl s_client -connect graph.facebook.com:443` shows the current
//! chain). Updated by a bump of `webpki-roots` (`cargo update -p
//! webpki-roots`), which follows Mozilla's list, distrusted roots included:
//! keep it as current as any security dependency.
//!
//! **Not trusted by either:** anything added to a machine's own store, such
//! as a private CA or a TLS-inspecting proxy; a deployment behind one would
//! add its CA here. (The `chasqui` CLI, which runs on developers' machines,
//! keeps the SDK's default and the system store for its own AWS calls.)
//! Certificate verification is always on (a test checks both clients refuse
//! a certificate they do not trust).
//!
//! Plain `http://` endpoints (moto through `AWS_ENDPOINT_URL`, the Cloud API
//! sandbox) work as before: TLS is used only for `https://` URLs. The
//! trust stores are built all the same, as on Lambda, so the cold-start
//! bench, which runs on plain `http://`, pays for them as Lambda does.

use std::sync::Arc;

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::shared::IntoShared;

/// The roots of Amazon Trust Services, the AWS clients' trust store.
const AMAZON_TRUST_SERVICES_PEM: &[u8] = include_bytes!("https/amazon-trust-services.pem");

/// The HTTP client of every AWS SDK client: the SDK's own default (hyper 1,
/// rustls with aws-lc, proxy settings from the environment, the timeouts
/// each SDK client asks for) with the trust store above instead of the
/// system's.
///
/// This mirrors `aws_smithy_runtime`'s `default_https_client`, through the
/// same `Builder::build_with_connector_fn` it uses, so only the trust store
/// differs, and wraps it in [`LazyConnectors`]. The SDK builds one
/// connector (and parses the five roots) per distinct timeout setting, at
/// the first request that needs it.
pub fn aws_http_client() -> SharedHttpClient {
    LazyConnectors(sdk_default_with_our_roots()).into_shared()
}

/// The SDK's client minus one eager step: its `validate_base_client_config`
/// builds a whole connector, TLS configuration and trust store included,
/// and throws it away, "so that native certs load at client initialization
/// time" (aws-smithy-http-client 1.5). It runs for every SDK client made
/// from the configuration, the credentials chain's STS client included: four
/// throwaway trust stores in the webhook's cold start. There is no
/// file to load early here, so this wrapper skips it and only ever builds
/// the connectors requests use.
#[derive(Debug)]
struct LazyConnectors(SharedHttpClient);

impl HttpClient for LazyConnectors {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[allow(
    clippy::expect_used,
    reason = "built from the compiled-in Amazon roots, not outside input"
)]
fn sdk_default_with_our_roots() -> SharedHttpClient {
    let tls = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES_PEM))
        .build()
        .expect("a TLS context without additional server names always builds");
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(tls.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// A `reqwest` client builder that trusts exactly Mozilla's roots (no
/// platform verifier, no system store), on a TLS configuration built here:
/// reqwest's own defaults (aws-lc, TLS 1.2 and 1.3, HTTP/2 and 1.1 offered
/// by ALPN) with the pre-parsed roots of `webpki-roots`, where reqwest's
/// `tls_certs_only` would parse each root's certificate again. Callers add
/// their timeouts. It does not fail today; the `Result` is the one callers
/// already handle, for a trust store that can.
pub fn reqwest_builder() -> Result<reqwest::ClientBuilder, reqwest::Error> {
    Ok(reqwest::Client::builder().tls_backend_preconfigured(cloud_api_tls()))
}

#[allow(
    clippy::expect_used,
    reason = "aws-lc's default provider and versions, not outside input"
)]
fn cloud_api_tls() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("aws-lc's default provider supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tls
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::{Read, Write};

    fn subject_has(anchor: &rustls_pki_types::TrustAnchor<'_>, name: &str) -> bool {
        // Subject common names appear as they are (UTF8String or
        // PrintableString) in the subject's DER.
        anchor
            .subject
            .as_ref()
            .windows(name.len())
            .any(|w| w == name.as_bytes())
    }

    #[test]
    fn the_aws_clients_trust_exactly_the_five_amazon_trust_services_roots_of_mozillas_list() {
        let certs = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_PEM)
            .collect::<Result<Vec<_>, _>>()
            .expect("the embedded roots are valid PEM");
        let names = [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ];
        assert_eq!(certs.len(), names.len());
        for (cert, name) in certs.into_iter().zip(names) {
            let mut store = rustls::RootCertStore::empty();
            store.add(cert).expect("a parsable root certificate");
            let anchor = &store.roots[0];
            assert!(subject_has(anchor, name), "expected {name}");
            assert!(
                webpki_roots::TLS_SERVER_ROOTS.contains(anchor),
                "{name} is not the one in Mozilla's list"
            );
        }
    }

    #[test]
    fn the_cloud_api_client_trusts_mozillas_list_with_the_root_meta_chains_to() {
        assert!(
            webpki_roots::TLS_SERVER_ROOTS.len() > 100,
            "Mozilla's list has well over 100 roots"
        );
        assert!(
            webpki_roots::TLS_SERVER_ROOTS
                .iter()
                .any(|a| subject_has(a, "DigiCert Global Root G2")),
            "DigiCert Global Root G2 is missing"
        );
    }

    /// An https server on localhost with a self-signed certificate, which
    /// answers every request with 200 "ok". Returns its port.
    fn untrusted_https_server() -> (u16, CertificateDer<'static>) {
        const PEM: &[u8] = include_bytes!("https/untrusted-localhost.pem");
        let cert = CertificateDer::from_pem_slice(PEM).expect("the test certificate");
        let key = PrivateKeyDer::from_pem_slice(PEM).expect("the test key");
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("default versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .expect("the test certificate and key match"),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().expect("its address").port();
        std::thread::spawn(move || {
            for socket in listener.incoming().flatten() {
                let config = config.clone();
                std::thread::spawn(move || {
                    let Ok(conn) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let mut tls = rustls::StreamOwned::new(conn, socket);
                    let mut request = [0u8; 4096];
                    // A client that refuses the certificate ends here.
                    if tls.read(&mut request).unwrap_or(0) > 0 {
                        let _ = tls.write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        );
                        tls.conn.send_close_notify();
                        let _ = tls.flush();
                    }
                });
            }
        });
        (port, cert)
    }

    #[tokio::test]
    async fn both_clients_verify_certificates_and_refuse_one_they_do_not_trust() {
        let (port, cert) = untrusted_https_server();
        let url = format!("https://localhost:{port}/");

        // GIVEN a client that trusts the server's certificate, THEN the
        // server answers it (it is a working https server)
        let trusting = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_der(&cert).expect("DER")])
            .build()
            .expect("a client");
        let body = trusting
            .get(&url)
            .send()
            .await
            .expect("a client that trusts the certificate reaches the server")
            .text()
            .await
            .expect("a body");
        assert_eq!(body, "ok");

        // WHEN the Cloud API client calls it, THEN the handshake fails on
        // the certificate
        let cloud_api = reqwest_builder()
            .expect("a builder")
            .build()
            .expect("a client");
        let refused = cloud_api
            .get(&url)
            .send()
            .await
            .expect_err("an untrusted certificate");
        assert!(
            format!("{refused:?}").contains("UnknownIssuer"),
            "refused for another reason: {refused:?}"
        );

        // AND so does an AWS SDK client on our HTTP client
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(aws_http_client())
            .endpoint_url(&url)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .load()
            .await;
        let refused = aws_sdk_sqs::Client::new(&aws)
            .list_queues()
            .send()
            .await
            .expect_err("an untrusted certificate");
        assert!(
            format!("{refused:?}").contains("UnknownIssuer"),
            "refused for another reason: {refused:?}"
        );
    }
}
