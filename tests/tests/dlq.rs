//! `chasqui dlq` against the local AWS emulator: the media and callbacks
//! dead-letter queues are listed with the send and webhook ones, each
//! letter with its reason (the inbound record's `media` as the media
//! function writes it, the callbacks function's `failure_reason`); a media
//! job is replayed onto its queue; parked callbacks are not moved (they are
//! sent again with `chasqui callbacks replay`), and `chasqui callbacks
//! parked` shows one tenant's.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::MessageAttributeValue;
use chasqui_cli::commands::Output;
use chasqui_cli::commands::dlq::{self, Which};
use chasqui_cli::stack::Resources;
use chasqui_cli::target::Target;
use chasqui_media::records::{DynamoMediaRecords, MediaRecords};
use shared::media::{MediaInfo, MediaJob, reason, state};

struct Env {
    target: Target,
    sqs: aws_sdk_sqs::Client,
    media_queue: String,
    media_dlq: String,
    callbacks_dlq: String,
}

async fn env() -> Env {
    let ddb = harness::dynamodb().await;
    let table = harness::create_table(&ddb).await;
    let sqs = harness::sqs().await;
    let (send_queue, send_dlq) = harness::create_queue_with_dlq(&sqs, "send", 3, 30).await;
    let (webhook_queue, webhook_dlq) = harness::create_queue_with_dlq(&sqs, "webhook", 3, 30).await;
    let (media_queue, media_dlq) = harness::create_queue_with_dlq(&sqs, "media", 3, 30).await;
    let (callbacks_queue, callbacks_dlq) =
        harness::create_queue_with_dlq(&sqs, "callbacks", 3, 30).await;
    let target = Target {
        resources: Resources {
            table_name: Some(table),
            send_queue_url: Some(send_queue),
            send_dlq_url: Some(send_dlq),
            webhook_queue_url: Some(webhook_queue),
            webhook_dlq_url: Some(webhook_dlq),
            media_queue_url: Some(media_queue.clone()),
            media_dlq_url: Some(media_dlq.clone()),
            callbacks_queue_url: Some(callbacks_queue),
            callbacks_dlq_url: Some(callbacks_dlq.clone()),
            ..Default::default()
        },
        aws: harness::aws().await,
        source: "test".into(),
        local: true,
        tenant: "default".into(),
    };
    Env {
        target,
        sqs,
        media_queue,
        media_dlq,
        callbacks_dlq,
    }
}

fn job(inbound_id: &str) -> MediaJob {
    MediaJob {
        tenant: "default".into(),
        phone_number_id: "1122334455".into(),
        customer_id: "5511988887777".into(),
        inbound_id: inbound_id.into(),
        at: 1_730_000_000_000,
        kind: "image".into(),
        media_id: format!("media-of-{inbound_id}"),
        mime_type: Some("image/jpeg".into()),
        sha256: None,
        from: None,
        from_user_id: None,
    }
}

/// The inbound record of `job`, its `media` given up on as the media
/// function records it on the last receive.
async fn given_up(env: &Env, job: &MediaJob, detail: &str) {
    let ddb = env.target.dynamodb();
    let table = env.target.table().unwrap();
    let key = shared::table::dynamo::key(
        shared::table::contact_pk(&job.tenant, &job.phone_number_id, &job.customer_id),
        shared::table::inbound_sk(job.at, &job.inbound_id),
    );
    ddb.put_item()
        .table_name(table)
        .set_item(Some(key))
        .item("type", AttributeValue::S(job.kind.clone()))
        .send()
        .await
        .unwrap();
    let info = MediaInfo {
        state: state::FAILED.into(),
        media_id: job.media_id.clone(),
        reason: Some(reason::GAVE_UP.into()),
        detail: Some(detail.into()),
        ..MediaInfo::default()
    };
    let written = DynamoMediaRecords::new(ddb, table)
        .set_media(job, &info)
        .await
        .unwrap();
    assert!(written, "the inbound record exists");
}

async fn put(sqs: &aws_sdk_sqs::Client, queue: &str, body: &str, attributes: &[(&str, &str)]) {
    let mut send = sqs.send_message().queue_url(queue).message_body(body);
    for (name, value) in attributes {
        send = send.message_attributes(
            *name,
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(*value)
                .build()
                .unwrap(),
        );
    }
    send.send().await.unwrap();
}

#[tokio::test]
async fn media_and_callbacks_letters_are_listed_with_their_reasons() {
    let env = env().await;
    let media = job("wamid.DLQ1");
    given_up(
        &env,
        &media,
        "gave up after 10 receives; Last error: 503 from Meta",
    )
    .await;
    put(
        &env.sqs,
        &env.media_dlq,
        &serde_json::to_string(&media).unwrap(),
        &[],
    )
    .await;
    // A job whose inbound record is gone still lists, saying so.
    put(
        &env.sqs,
        &env.media_dlq,
        &serde_json::to_string(&job("wamid.GONE")).unwrap(),
        &[],
    )
    .await;
    put(
        &env.sqs,
        &env.callbacks_dlq,
        r#"{"tenant":"acme","event_id":"evt_1","endpoint_id":"ep_1"}"#,
        &[
            ("failure_reason", "gave up after 35 tries in 86400 s"),
            ("tenant", "acme"),
            ("event_id", "evt_1"),
            ("endpoint_id", "ep_1"),
        ],
    )
    .await;

    // Without --queue: every queue the stack names.
    let queues = Which::listed(&env.target);
    assert_eq!(
        queues,
        [
            Which::Sender,
            Which::Webhook,
            Which::Media,
            Which::Callbacks
        ]
    );
    let letters = dlq::letters(&env.target, &queues, 10).await.unwrap();
    assert_eq!(letters.len(), 3, "{letters:?}");
    let of = |id: &str| {
        letters
            .iter()
            .find(|l| l.id.as_deref() == Some(id))
            .unwrap_or_else(|| panic!("no letter {id}: {letters:?}"))
    };
    let given = of("wamid.DLQ1");
    assert_eq!(given.queue, "media");
    assert!(given.summary.contains("media-of-wamid.DLQ1"), "{given:?}");
    assert_eq!(
        given.reason,
        "gave_up_after_retries: gave up after 10 receives; Last error: 503 from Meta"
    );
    let gone = of("wamid.GONE");
    assert!(gone.reason.contains("no inbound record"), "{gone:?}");
    let parked = of("evt_1");
    assert_eq!(parked.queue, "callbacks");
    assert!(
        parked.summary.contains("acme") && parked.summary.contains("ep_1"),
        "{parked:?}"
    );
    assert_eq!(parked.reason, "gave up after 35 tries in 86400 s");
    // Listing leaves them in place.
    assert_eq!(harness::queue_depth(&env.sqs, &env.media_dlq).await, 2);
    assert_eq!(harness::queue_depth(&env.sqs, &env.callbacks_dlq).await, 1);

    // A media job goes back to the media queue, as it was.
    dlq::replay(&env.target, Output { json: true }, Which::Media, 10)
        .await
        .unwrap();
    assert_eq!(harness::queue_depth(&env.sqs, &env.media_dlq).await, 0);
    let back = harness::receive(&env.sqs, &env.media_queue, 2).await;
    let mut ids: Vec<String> = back
        .iter()
        .map(|m| serde_json::from_str::<MediaJob>(m.body().unwrap()).unwrap())
        .map(|j| j.inbound_id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["wamid.DLQ1", "wamid.GONE"]);

    // Parked callbacks stay: their replay is `chasqui callbacks replay`.
    let refused = dlq::replay(&env.target, Output { json: true }, Which::Callbacks, 10)
        .await
        .unwrap_err();
    assert!(
        refused
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("chasqui callbacks replay")),
        "{refused:?}"
    );
    assert_eq!(harness::queue_depth(&env.sqs, &env.callbacks_dlq).await, 1);
}

#[tokio::test]
async fn a_stack_without_media_or_callbacks_queues_lists_the_others() {
    let mut env = env().await;
    env.target.resources.media_dlq_url = None;
    env.target.resources.callbacks_dlq_url = None;
    assert_eq!(Which::listed(&env.target), [Which::Sender, Which::Webhook]);
    dlq::list(&env.target, Output { json: true }, None, 10)
        .await
        .unwrap();
    // Asked for by name, a queue the stack does not name is an error that
    // says which setting is missing.
    let err = dlq::letters(&env.target, &[Which::Media], 10)
        .await
        .unwrap_err();
    assert!(err.message.contains("MEDIA_DLQ_URL"), "{err:?}");
}

#[tokio::test]
async fn callbacks_parked_shows_the_target_tenants_only() {
    let env = env().await;
    for (tenant, event) in [("acme", "evt_a"), ("globex", "evt_g")] {
        put(
            &env.sqs,
            &env.callbacks_dlq,
            "{}",
            &[
                ("failure_reason", &format!("gave up on {event}")),
                ("tenant", tenant),
                ("event_id", event),
                ("endpoint_id", "ep_1"),
            ],
        )
        .await;
    }
    let mut acme = env.target.clone();
    acme.tenant = "acme".into();
    let rows = chasqui_cli::commands::callbacks::parked(&acme, Output { json: true }, 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["event_id"], "evt_a");
    assert_eq!(rows[0]["reason"], "gave up on evt_a");
    // The limit holds, and the letters stay for the next look.
    let mut globex = env.target.clone();
    globex.tenant = "globex".into();
    let rows = chasqui_cli::commands::callbacks::parked(&globex, Output { json: true }, 0)
        .await
        .unwrap();
    assert!(rows.is_empty());
    assert_eq!(harness::queue_depth(&env.sqs, &env.callbacks_dlq).await, 2);
}
