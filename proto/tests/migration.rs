//! RFC 9000 §9 connection migration without multipath.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{payload, Pair, Upload};
use mpquic_proto::{Event, MigrateError, PathEvent, PathId, TransportConfig};

#[test]
fn client_migrates_mid_transfer_and_the_server_follows() {
    let mut pair = Pair::new(60, TransportConfig::default());
    let (c, s) = pair.connect_default();
    let data = payload(60, 4 << 20);
    let new_local: SocketAddr = "127.0.0.3:40002".parse().unwrap();
    let mut upload = Upload::start(&mut pair, c);
    let mut migrated = false;
    let mut server_saw_migration = false;
    let ok = pair.drive_until(Duration::from_secs(60), |p| {
        if !migrated && upload.got.len() > 1 << 20 {
            let now = p.now;
            p.client.connection(c).unwrap().migrate(now, new_local).unwrap();
            migrated = true;
        }
        while p.client.poll_event().is_some() {}
        while let Some((_, e)) = p.server.poll_event() {
            server_saw_migration |= e == Event::Path(PathEvent::Migrated(PathId::ZERO));
        }
        upload.step(p, c, s, &data)
    });
    assert!(ok && upload.got == data, "transfer incomplete: {} bytes", upload.got.len());
    assert!(server_saw_migration, "the server followed the client to its new address");
    let server_path = pair.server.connection(s).unwrap().path(PathId::ZERO).unwrap();
    assert_eq!(server_path.remote, new_local);
    assert!(server_path.validated);
    assert!(pair.delivered.contains_key(&(new_local, pair.server_addr)));
}

#[test]
fn disable_active_migration_is_honoured() {
    let mut pair = Pair::with_server_config(61, TransportConfig::default(), |s| s.migration = false);
    let (c, _s) = pair.connect_default();
    pair.drive_until(Duration::from_millis(200), |_| false);
    let now = pair.now;
    let err = pair.client.connection(c).unwrap().migrate(now, "127.0.0.3:1".parse().unwrap());
    assert_eq!(err, Err(MigrateError::Disabled));
}

#[test]
fn client_moves_to_the_servers_preferred_address() {
    let preferred: SocketAddr = "127.0.0.9:4433".parse().unwrap();
    let SocketAddr::V4(v4) = preferred else { unreachable!() };
    let mut pair = Pair::with_server_config(62, TransportConfig::default(), |s| s.preferred_address_v4 = Some(v4));
    let (c, s) = pair.connect_default();
    let data = payload(62, 1 << 20);
    let mut upload = Upload::start(&mut pair, c);
    let ok = pair.drive_until(Duration::from_secs(30), |p| {
        while p.client.poll_event().is_some() {}
        while p.server.poll_event().is_some() {}
        upload.step(p, c, s, &data)
    });
    assert!(ok && upload.got == data, "transfer incomplete: {} bytes", upload.got.len());
    let client_path = pair.client.connection(c).unwrap().path(PathId::ZERO).unwrap();
    assert_eq!(client_path.remote, preferred, "the client sends to the preferred address");
    assert!(client_path.validated);
    assert_eq!(pair.server.connection(s).unwrap().path(PathId::ZERO).unwrap().local, Some(preferred));
    assert!(pair.delivered.contains_key(&(pair.client_addr, preferred)));
}
