//! What the state file keeps of the newer parts: the permission catalogue
//! (configuration, like the allow-lists) and a key's agent registration.
#![cfg(feature = "sqlite")]

mod wire;

use keygate_emulator::Emulator;
use serde_json::json;
use wire::Caller;

#[tokio::test]
async fn the_catalogue_and_an_agent_keys_registration_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.db");
    let emu = Emulator::builder()
        .state_file(&file)
        .permission("posts:read", "Read posts", Some("See every post."))
        .start()
        .await
        .unwrap();
    let org = emu.create_organization("Acme").unwrap();
    let agent = emu
        .create_agent_key(
            &org.id,
            "agent",
            &[],
            "agent_reg_01EHZNVPK3SFK441A1RGBFSHRT",
        )
        .unwrap();
    emu.shutdown().await;

    let emu = Emulator::builder().state_file(&file).start().await.unwrap();
    let api = Caller::new(&emu);
    let list = api.get("/authorization/permissions").await;
    assert_eq!(list.body["data"][0]["name"], "Read posts", "{}", list.body);
    let answer = api
        .post(
            "/api_keys/validations",
            json!({"value": agent.value.expose_secret()}),
        )
        .await;
    assert_eq!(
        answer.body["agent_registration_id"],
        "agent_reg_01EHZNVPK3SFK441A1RGBFSHRT"
    );
    // A reset empties the data, not the catalogue.
    emu.reset();
    let list = api.get("/authorization/permissions").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    emu.shutdown().await;
}
