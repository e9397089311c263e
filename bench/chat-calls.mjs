// The bench's look at the Bot API stand-in's calls: whether a message naming an action was sent
// (or edited: a group it joined) since the last look. Only the calls made since are read, so the
// wait costs the control plane nothing.
export function chatWatcher(api) {
  let seen = api.calls.length;
  return {
    /** True once a sendMessage or editMessageText naming `id` went out after the last look. */
    named(id) {
      let hit = false;
      for (; seen < api.calls.length; seen++) {
        const c = api.calls[seen];
        if ((c.method === 'sendMessage' || c.method === 'editMessageText') && String(c.params.text).includes(id)) hit = true;
      }
      return hit;
    },
  };
}
