/** The dashboard's CSS, inlined into the page. Chip colors for the states in docs/design.md "Tunnel lifecycle and health": green active, orange pending, grey stopped. */
export const DASHBOARD_STYLE = `
:root{--bg:#f5f6f8;--card:#fff;--ink:#1d2330;--muted:#687083;--line:#e3e6ec;--green:#1f9d55;--green-bg:#e3f6ea;--orange:#c76a00;--orange-bg:#fff1dc;--red:#c62828;--red-bg:#fde6e6;--grey:#6b7280;--grey-bg:#eceef1;--blue:#2563eb}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif}
header{display:flex;align-items:baseline;justify-content:space-between;gap:1rem;padding:1.1rem 1.5rem;background:#151a24;color:#fff}
h1{margin:0;font-size:1.25rem;font-weight:600}.logo{font-family:ui-monospace,monospace;color:#7dd3a8;margin-right:.3rem}
.summary{color:#c7ccd6;font-size:.9rem}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:1rem;padding:1.25rem 1.5rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1rem 1.1rem;display:flex;flex-direction:column;gap:.7rem;box-shadow:0 1px 2px rgba(16,24,40,.04)}
.card.stopped{opacity:.75}
.top{display:flex;align-items:center;gap:.5rem;flex-wrap:wrap}
.name{font-weight:650;font-size:1.05rem;font-family:ui-monospace,monospace;margin-right:auto;word-break:break-all}
.chip{display:inline-block;padding:.1rem .55rem;border-radius:999px;font-size:.78rem;font-weight:600;letter-spacing:.01em}
.chip.green{color:var(--green);background:var(--green-bg)}.chip.orange{color:var(--orange);background:var(--orange-bg)}
.chip.red{color:var(--red);background:var(--red-bg)}.chip.grey{color:var(--grey);background:var(--grey-bg)}
.facts{display:grid;grid-template-columns:auto 1fr;gap:.2rem .9rem;margin:0}
.facts dt{color:var(--muted)}.facts dd{margin:0;font-variant-numeric:tabular-nums;word-break:break-all}
.left.orange{color:var(--orange);font-weight:600}.left.red{color:var(--red);font-weight:600}.left.grey{color:var(--grey)}
.counters{display:grid;grid-template-columns:repeat(6,minmax(0,1fr));gap:.3rem;text-align:center;border-top:1px solid var(--line);border-bottom:1px solid var(--line);padding:.5rem 0}
.counters b{display:block;font-size:1.05rem;font-variant-numeric:tabular-nums;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}.counters span{display:block;color:var(--muted);font-size:.72rem;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.health{display:flex;align-items:center;gap:.8rem}
.spark{flex:1;height:36px;min-width:120px}
.spark-label{color:var(--muted);font-size:.78rem;white-space:nowrap;text-align:right}
.actions{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap}
button{font:inherit;font-size:.85rem;padding:.3rem .8rem;border-radius:6px;border:1px solid var(--line);background:#fff;cursor:pointer}
button:hover{border-color:#b9c0cc}button:disabled{opacity:.5;cursor:default}
button.stop{color:var(--red);border-color:#f1c0c0}
.note{color:var(--muted);font-size:.8rem}.note.bad{color:var(--red)}.note.good{color:var(--green)}
.recent-requests:empty{display:none}
.empty{padding:0 1.5rem;color:var(--muted)}
footer{padding:0 1.5rem 1.5rem;color:var(--muted);font-size:.8rem}footer a{color:var(--muted)}
code{font-family:ui-monospace,monospace}
.identity a{color:#cfd6e4;font-size:.85rem}
#sign-in{display:flex;gap:.5rem;align-items:center;padding:.8rem 1.5rem;background:#fff8e6;border-bottom:1px solid #f0e0b0}
#sign-in[hidden]{display:none}#sign-in input{flex:0 1 22rem;padding:.35rem .5rem;border:1px solid #c9ced8;border-radius:6px}
`;
