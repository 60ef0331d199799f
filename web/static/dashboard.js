// hark dashboard: the on-air timers and retry countdowns tick here, from the start times and
// deadlines the server sent (no per-second traffic); the share card's Copy buttons; the title
// field follows the current title unless the user is typing in it.
(() => {
  const script = document.currentScript;
  // The server's clock minus this device's: timers count from the box's start times.
  const skew = script && script.dataset.now ? Number(script.dataset.now) - Date.now() : 0;
  const pad = (n) => String(n).padStart(2, '0');
  const clock = (s) => `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
  const tick = () => {
    const now = Date.now() + skew;
    for (const el of document.querySelectorAll('[data-since]')) {
      const t = Date.parse(el.dataset.since);
      if (!Number.isNaN(t)) el.textContent = clock(Math.max(0, Math.floor((now - t) / 1000)));
    }
    for (const el of document.querySelectorAll('[data-until]')) {
      const t = Date.parse(el.dataset.until);
      if (!Number.isNaN(t)) el.textContent = `${Math.max(0, Math.ceil((t - now) / 1000))} s`;
    }
  };
  const titleInput = () => document.getElementById('title-input');
  const followTitle = () => {
    const input = titleInput();
    const now = document.querySelector('#title-now [data-title]');
    if (!input || !now || document.activeElement === input || input.dataset.edited === 'true') return;
    input.value = now.dataset.title;
  };
  const copy = async (btn) => {
    const el = document.getElementById(btn.dataset.copy);
    const status = document.querySelector('#share .copied');
    if (!el) return;
    const text = el.textContent.trim();
    try {
      await navigator.clipboard.writeText(text);
      if (status) status.textContent = `Copied ${text}`;
    } catch {
      // No clipboard (plain http on a LAN address is not a secure context): select the text,
      // so the phone's own Copy is one tap away.
      const range = document.createRange();
      range.selectNodeContents(el);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      if (status) status.textContent = 'Selected: use your device’s Copy.';
    }
  };
  document.addEventListener('DOMContentLoaded', () => {
    tick();
    setInterval(tick, 1000);
    document.body.addEventListener('htmx:sseMessage', () => {
      tick();
      followTitle();
    });
    document.body.addEventListener('click', (e) => {
      const btn = e.target.closest && e.target.closest('button[data-copy]');
      if (btn) copy(btn);
    });
    const input = titleInput();
    if (input) {
      input.addEventListener('input', () => (input.dataset.edited = 'true'));
      // After "Set title" the field follows the current title again.
      document.body.addEventListener('htmx:afterRequest', (e) => {
        if (e.target && e.target.id === 'title-form') input.dataset.edited = 'false';
      });
    }
  });
})();
