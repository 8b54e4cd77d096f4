//! Any request body of `POST …/participations` reads into a token and answers, or a 400 with a
//! stable code: never a panic.
#![no_main]

use campaign_token_server::api::ParticipationBody;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match ParticipationBody::parse(data) {
        Ok(body) => {
            // What was read came from the body.
            assert!(body.token.len() <= data.len());
        }
        Err(e) => assert_eq!(e.code(), "bad_request"),
    }
});
