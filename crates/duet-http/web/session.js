// Signing in on a page (the form with ids sign-in, user, password and
// sign-in-error): a session from POST /api/sessions, kept for this tab
// only (sessionStorage), so a reload or a switchover needs no new sign-in.

import { byId } from './dom.js';

export function signedIn(pair, storageKey) {
  return new Promise((resolve) => {
    const ready = (session) => {
      pair.auth = { authorization: `Bearer ${session.token}` };
      byId('sign-in').hidden = true;
      resolve(session);
    };
    const kept = sessionStorage.getItem(storageKey);
    if (kept) {
      ready(JSON.parse(kept));
      return;
    }
    byId('sign-in').addEventListener('submit', async (event) => {
      event.preventDefault();
      byId('sign-in-error').textContent = '';
      try {
        const answer = await pair.post('/api/sessions', { user: byId('user').value, password: byId('password').value });
        const session = { token: answer.token, user: answer.user };
        sessionStorage.setItem(storageKey, JSON.stringify(session));
        byId('password').value = '';
        ready(session);
      } catch (e) {
        byId('sign-in-error').textContent = `Not signed in: ${e.message}`;
      }
    });
    // Usable only now: a form sent before would leave the page.
    byId('sign-in').querySelector('button[type=submit]').disabled = false;
  });
}

export function signOut(storageKey) {
  sessionStorage.removeItem(storageKey);
  location.reload();
}
