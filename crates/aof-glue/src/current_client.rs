//! The AOF client as the server's current and executing client while it replays, so
//! commands see who runs them, as upstream's loader arranges.

use super::aof_client::AofClient;
use super::bindings::client;
use super::server;

impl AofClient {
    /// Makes this client `server.current_client` and `server.executing_client` (as
    /// upstream's loader does, so commands see who runs them) for as long as the returned
    /// wrapper lives; dropping it puts the previous ones back, then frees the client, so
    /// the server never points at a freed client.
    pub fn into_current(self) -> CurrentAofClient {
        // SAFETY: a live client, owned by the wrapper and freed only after the old
        // values are back.
        let previous = unsafe {
            (
                server::replace_current_client(self.as_ptr()),
                server::replace_executing_client(self.as_ptr()),
            )
        };
        CurrentAofClient {
            client: self,
            previous,
        }
    }
}

/// An [`AofClient`] that is the server's current and executing client (see
/// [`AofClient::into_current`]).
pub struct CurrentAofClient {
    client: AofClient,
    previous: (*mut client, *mut client),
}

impl std::ops::Deref for CurrentAofClient {
    type Target = AofClient;
    fn deref(&self) -> &AofClient {
        &self.client
    }
}

impl std::ops::DerefMut for CurrentAofClient {
    fn deref_mut(&mut self) -> &mut AofClient {
        &mut self.client
    }
}

impl Drop for CurrentAofClient {
    fn drop(&mut self) {
        // SAFETY: the values that were there before into_current, put back before the
        // client itself is freed (the field drops after this).
        unsafe {
            server::replace_current_client(self.previous.0);
            server::replace_executing_client(self.previous.1);
        }
    }
}
