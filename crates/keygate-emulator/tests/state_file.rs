//! The state file holds webhook signing secrets in the clear, so only its
//! owner may read it: a new file and its write-ahead log are made 0600, and
//! an existing file readable by others is tightened to 0600 at start.
#![cfg(all(unix, feature = "sqlite"))]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use keygate_emulator::Emulator;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn a_new_state_file_and_its_log_are_readable_by_their_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.db");
    let emu = Emulator::builder().state_file(&file).start().await.unwrap();
    emu.add_webhook_endpoint("http://127.0.0.1:9/hooks", "whsec_kept_in_the_file")
        .unwrap();
    assert_eq!(mode(&file), 0o600, "the state file");
    let wal = dir.path().join("state.db-wal");
    assert_eq!(mode(&wal), 0o600, "its write-ahead log");
    emu.shutdown().await;
}

#[tokio::test]
async fn an_existing_state_file_readable_by_others_is_tightened() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.db");
    let emu = Emulator::builder().state_file(&file).start().await.unwrap();
    emu.add_webhook_endpoint("http://127.0.0.1:9/hooks", "whsec_kept_in_the_file")
        .unwrap();
    emu.shutdown().await;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();

    let emu = Emulator::builder().state_file(&file).start().await.unwrap();
    assert_eq!(mode(&file), 0o600);
    assert_eq!(emu.webhook_endpoints().len(), 1, "the file's data is kept");
    emu.shutdown().await;
}
