// The status page's HTML shell and style sheet: landmarks, a dialog for viewing files, light and dark themes that
// follow the system, and a layout for laptop and phone widths. Nothing is loaded from anywhere but this server.
import { STATUS_PATH } from './http.js';

export const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sandbox-mcp status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${STATUS_PATH}/app.css">
</head>
<body>
<a class="skip" href="#main">Skip to the session</a>
<header class="top"><h1>sandbox-mcp</h1><p id="updated" role="status">loading…</p></header>
<div class="layout">
<nav aria-label="Sessions"><h2 class="sr-only">Sessions</h2><ul id="session-list"></ul></nav>
<main id="main" tabindex="-1"><div id="sessions"></div></main>
</div>
<p id="announce" class="sr-only" aria-live="polite"></p>
<dialog id="viewer" aria-labelledby="viewer-title">
<div class="viewer-head"><h2 id="viewer-title">File</h2>
<a id="viewer-download" class="button" download hidden>Download</a>
<button id="viewer-close" type="button" class="button">Close</button></div>
<div id="viewer-body"></div>
</dialog>
<script src="${STATUS_PATH}/app.js"></script>
</body></html>
`;

export const STYLE = `
:root{color-scheme:light dark;--bg:#fbfbfc;--fg:#1d2127;--muted:#59606b;--line:#d9dde3;--panel:#fff;--code:#f3f4f6;
--accent:#0b5cad;--ok:#17663a;--err:#a4161a;--warn:#8a5a00;--run:#0b5cad;--err-bg:#fdeeee;--note-bg:#fff7e0;
--kw:#8b1fa9;--str:#1a7f37;--num:#b35900;--com:#6a737d;--bi:#0550ae;--fn:#6639ba;--dec:#953800}
@media (prefers-color-scheme:dark){:root{--bg:#14171b;--fg:#e3e6ea;--muted:#a2a9b3;--line:#343a42;--panel:#1b1f24;
--code:#22272e;--accent:#6cb6ff;--ok:#57c785;--err:#ff7b72;--warn:#e3b341;--run:#6cb6ff;--err-bg:#3a1d1f;
--note-bg:#33290f;--kw:#d2a8ff;--str:#7ee787;--num:#ffa657;--com:#8b949e;--bi:#79c0ff;--fn:#d2a8ff;--dec:#ffa657}}
*{box-sizing:border-box}[hidden]{display:none!important}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif}
a{color:var(--accent)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.skip{position:absolute;left:-999px;top:0;background:var(--panel);padding:.5em;z-index:9}.skip:focus{left:.5em}
.top{display:flex;flex-wrap:wrap;align-items:baseline;gap:.2em 1em;padding:.6em 1em;border-bottom:1px solid var(--line)}
.top h1{font-size:1.15em;margin:0}#updated{margin:0;color:var(--muted);font-size:.9em}
.layout{display:grid;grid-template-columns:15em minmax(0,1fr);min-height:calc(100vh - 3em)}
nav{border-right:1px solid var(--line);padding:.6em}
nav ul{list-style:none;margin:0;padding:0}nav li{margin:0 0 .3em}
nav a{display:block;padding:.4em .5em;border-radius:6px;text-decoration:none;color:var(--fg);overflow-wrap:anywhere}
nav a[aria-current=page]{background:var(--code);font-weight:600}nav a:hover{background:var(--code)}
nav small{display:block;color:var(--muted)}
main{padding:.8em 1.2em;min-width:0}
h2{font-size:1.15em;margin:.2em 0;overflow-wrap:anywhere}h3{font-size:1em;margin:1em 0 .4em}
.meta{color:var(--muted);margin:.2em 0 .6em}
.toolbar{display:flex;flex-wrap:wrap;gap:.5em;align-items:center;margin:.4em 0}
.button,button{font:inherit;font-size:.9em;padding:.3em .7em;border:1px solid var(--line);border-radius:6px;
background:var(--panel);color:var(--fg);cursor:pointer;text-decoration:none;display:inline-block}
.button:hover,button:hover{border-color:var(--accent)}
.columns{display:grid;grid-template-columns:minmax(0,1fr) 22em;gap:1.2em;align-items:start}
.calls-head{display:flex;flex-wrap:wrap;gap:.5em;align-items:baseline}.calls-head h3{margin-right:auto}
.hint{color:var(--muted);font-size:.85em}
ol.cells{list-style:none;margin:0;padding:0}
.cell{border:1px solid var(--line);border-left:4px solid var(--line);border-radius:6px;background:var(--panel);
margin:0 0 .8em;padding:.5em .7em;min-width:0}
.cell[data-status=ok]{border-left-color:var(--ok)}.cell[data-status=running]{border-left-color:var(--run)}
.cell[data-failed]{border-left-color:var(--err)}
.cell:focus{outline:3px solid var(--accent)}
.cell-head{display:flex;flex-wrap:wrap;gap:.2em .8em;align-items:baseline;font-size:.88em;color:var(--muted)}
.cell-head .prompt{font-family:ui-monospace,monospace;color:var(--fg);font-weight:600}
.badge{font-weight:600}.badge.ok{color:var(--ok)}.badge.bad{color:var(--err)}.badge.running{color:var(--run)}
pre{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;margin:.4em 0;padding:.5em .6em;
background:var(--code);border-radius:4px;overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere;max-height:32em}
pre.stderr{border-left:3px solid var(--warn)}pre.code{max-height:none}
.c-kw{color:var(--kw);font-weight:600}.c-str{color:var(--str)}.c-num{color:var(--num)}.c-com{color:var(--com);font-style:italic}
.c-bi{color:var(--bi)}.c-fn{color:var(--fn)}.c-dec{color:var(--dec)}
.label{font-size:.8em;color:var(--muted);margin:.5em 0 0}
.out img{max-width:100%;height:auto;background:#fff;border-radius:4px;display:block;margin:.4em 0}
.error{background:var(--err-bg);border-radius:4px;padding:.5em .6em;margin:.4em 0}
.error strong{color:var(--err)}.error pre{background:transparent;padding:0}
.notices{background:var(--note-bg);border-radius:4px;margin:.4em 0;padding:.4em .6em .4em 1.8em}
progress{width:12em;vertical-align:middle}
iframe.html{width:100%;height:18em;border:1px solid var(--line);border-radius:4px;background:#fff;resize:vertical}
aside section{border:1px solid var(--line);border-radius:6px;background:var(--panel);padding:.5em .7em;margin:0 0 .8em;min-width:0}
aside h3{margin:.1em 0 .4em}
.thumbs{display:flex;flex-wrap:wrap;gap:.4em}
.thumbs button{padding:0;border-radius:4px;overflow:hidden}.thumbs img{display:block;max-width:9em;max-height:7em;background:#fff}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.88em}caption{text-align:left;color:var(--muted)}
td,th{border-bottom:1px solid var(--line);padding:.25em .5em;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{white-space:nowrap}td:first-child{overflow-wrap:anywhere}
td button.link{border:0;background:none;color:var(--accent);padding:0;text-decoration:underline;text-align:left;font-size:1em}
.compare{display:flex;flex-wrap:wrap;gap:.4em;align-items:end;margin:.5em 0 0}.compare label{display:flex;flex-direction:column;font-size:.85em}
select{font:inherit;font-size:.9em;max-width:11em;background:var(--panel);color:var(--fg);border:1px solid var(--line);border-radius:4px}
dialog{width:min(64em,96vw);max-height:92vh;border:1px solid var(--line);border-radius:8px;background:var(--panel);color:var(--fg);padding:.7em}
dialog::backdrop{background:rgba(0,0,0,.45)}
.viewer-head{display:flex;gap:.5em;align-items:center;flex-wrap:wrap}.viewer-head h2{margin-right:auto}
#viewer-body img{max-width:100%;height:auto;background:#fff}#viewer-body iframe{width:100%;height:70vh;border:1px solid var(--line);background:#fff}
@media (max-width:1100px){.columns{grid-template-columns:minmax(0,1fr)}}
@media (max-width:700px){.layout{grid-template-columns:minmax(0,1fr)}
nav{border-right:0;border-bottom:1px solid var(--line);padding:.4em .6em}
nav ul{display:flex;gap:.4em;overflow-x:auto}nav li{margin:0;flex:0 0 auto;max-width:70vw}
main{padding:.6em}.cell{padding:.4em .5em}pre{font-size:12px}}
`;
