//! The HTTPS clients of `shared::https` never read the machine's
//! certificate store. This file is its own process so that it can point
//! `SSL_CERT_FILE` and `SSL_CERT_DIR` (which `rustls-native-certs` reads
//! instead of the system's paths) at nothing before any client exists: the
//! AWS SDK's default connector then finds no roots and, in a debug build,
//! fails its first request on an assertion, while ours goes through.

use aws_sdk_sqs::config::{Credentials, Region};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

// Edition 2024 makes setting the environment `unsafe`; this test must.
#[allow(unsafe_code)]
#[test]
fn the_clients_build_and_call_plain_http_without_the_system_trust_store() {
    // SAFETY: the only test in this process, run before any other thread
    // (runtime, client) exists.
    unsafe {
        std::env::set_var("SSL_CERT_FILE", "/nonexistent/chasqui/ca.pem");
        std::env::set_var("SSL_CERT_DIR", "/nonexistent/chasqui/certs");
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(async {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(
                    ResponseTemplate::new(200)
                        .insert_header("content-type", "application/x-amz-json-1.0")
                        .set_body_string(r#"{"QueueUrls":[]}"#),
                )
                .mount(&server)
                .await;
            Mock::given(method("GET"))
                .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
                .mount(&server)
                .await;

            // GIVEN the SDK configured on the shared HTTP client, against a
            // plain http endpoint (as with moto)
            let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(shared::https::aws_http_client())
                .endpoint_url(server.uri())
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("test", "test", None, None, "test"))
                .load()
                .await;
            // WHEN it makes a request (the connector, and its TLS
            // configuration, are built at the first one)
            let listed = aws_sdk_sqs::Client::new(&aws).list_queues().send().await;
            // THEN it succeeds without any root from the filesystem
            listed.expect("ListQueues over plain http");

            // AND the same holds for the Cloud API's reqwest client
            let http = shared::https::reqwest_builder()
                .expect("the compiled-in roots are valid certificates")
                .build()
                .expect("a reqwest client");
            let body = http
                .get(server.uri())
                .send()
                .await
                .expect("GET over plain http")
                .text()
                .await
                .expect("a body");
            assert_eq!(body, "ok");
        });
}
