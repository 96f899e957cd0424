"""The page the browser tests load: an EventSource client and a WebSocket client of the relay.

``viaSSE(base)`` and ``viaWebSocket(base)`` start a stream (``POST {base}/chat``, with
the page's cookies) and read it to its end, reconnecting after every break: EventSource
by itself (with ``Last-Event-ID``), the WebSocket client by sending the last id it got.
They resolve to ``{text, ids, opens, done, stream_id}``. ``base`` is ``""`` on the
relay's own origin, or the relay's origin from another one (CORS).
"""

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>relay test page</title>
<script>
document.cookie = "user=alice; path=/";
window.started = [];
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function startStream(base) {
  const response = await fetch(base + "/chat", {
    method: "POST",
    credentials: "include",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({prompt: "Hi"}),
  });
  if (response.status !== 201) throw new Error("start answered " + response.status);
  const links = await response.json();
  window.started.push(links.stream_id);
  return links;
}

function check(ids, id) {
  if (ids.length && id <= ids[ids.length - 1]) throw new Error("id " + id + " repeated");
  ids.push(id);
}

window.viaSSE = async (base) => {
  const links = await startStream(base);
  return await new Promise((resolve, reject) => {
    let text = "", opens = 0;
    const ids = [];
    const source = new EventSource(base + links.stream_url, {withCredentials: true});
    source.onopen = () => { opens += 1; };
    source.addEventListener("text", (e) => {
      check(ids, Number(e.lastEventId));
      text += JSON.parse(e.data).text;
    });
    source.addEventListener("done", (e) => {
      source.close();
      resolve({text, ids, opens, done: JSON.parse(e.data), stream_id: links.stream_id});
    });
    source.addEventListener("failed", (e) => { source.close(); reject(new Error(e.data)); });
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) reject(new Error("EventSource gave up"));
    };
  });
};

window.viaWebSocket = async (base) => {
  const links = await startStream(base);
  const origin = (base || location.origin).replace(/^http/, "ws");
  let text = "", opens = 0, last = null;
  const ids = [];
  for (let attempt = 0; attempt < 20; attempt++) {
    const end = await new Promise((resolve) => {
      const socket = new WebSocket(origin + links.ws_url);
      socket.onopen = () => {
        opens += 1;
        socket.send(JSON.stringify({last_event_id: last}));
      };
      socket.onmessage = (m) => {
        const message = JSON.parse(m.data);
        if (message.id !== undefined) last = message.id;
        if (message.event === "text") {
          check(ids, message.id);
          text += message.data.text;
        } else if (message.event === "done" || message.event === "failed") {
          resolve(message);
        }
      };
      socket.onclose = () => resolve(null);  // broken: reconnect with the last id
    });
    if (end !== null) {
      if (end.event === "failed") throw new Error(JSON.stringify(end.data));
      return {text, ids, opens, done: end.data, stream_id: links.stream_id};
    }
    await pause(100);
  }
  throw new Error("gave up reconnecting");
};

// run both, and keep the outcome where the test can read it without awaiting here
window.runBoth = (base) => {
  window.outcome = undefined;
  Promise.all([window.viaSSE(base), window.viaWebSocket(base)]).then(
    (results) => { window.outcome = {results}; },
    (error) => { window.outcome = {error: String(error)}; },
  );
};
</script>
<p>relay test page</p>
"""
