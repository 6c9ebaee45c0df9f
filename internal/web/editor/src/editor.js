// promgate's PromQL editor: Prometheus' own codemirror-promql on CodeMirror
// 6, with completion of functions, metric names, label names and values
// fetched through the chosen data source's proxy path with the page's
// session, so a label-limited caller is offered only what it may query.
//
// The bundle defines window.PromgateEditor; app.js uses it when it loaded
// and keeps the plain textarea when it did not.
import { EditorState, Prec } from '@codemirror/state';
import {
  EditorView, keymap, placeholder, drawSelection, highlightSpecialChars,
} from '@codemirror/view';
import { defaultKeymap, history, historyKeymap, insertNewlineAndIndent } from '@codemirror/commands';
import {
  autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap, completionStatus, acceptCompletion, closeCompletion,
} from '@codemirror/autocomplete';
import { bracketMatching, indentOnInput, syntaxHighlighting, HighlightStyle } from '@codemirror/language';
import { lintKeymap } from '@codemirror/lint';
import { tags } from '@lezer/highlight';
import { PromQLExtension } from '@prometheus-io/codemirror-promql';

// Colours chosen for contrast on white (WCAG AA for normal text).
const highlight = HighlightStyle.define([
  { tag: tags.keyword, color: '#7a3e9d' },
  { tag: tags.function(tags.variableName), color: '#1658a8' },
  { tag: tags.labelName, color: '#a3470b' },
  { tag: tags.string, color: '#1b6b2a' },
  { tag: tags.number, color: '#0b6e79' },
  { tag: tags.operator, color: '#8a1c1c' },
  { tag: tags.modifier, color: '#7a3e9d' },
  { tag: tags.paren, color: '#3a4048' },
  { tag: tags.squareBracket, color: '#3a4048' },
  { tag: tags.brace, color: '#3a4048' },
  { tag: tags.comment, color: '#5f6670', fontStyle: 'italic' },
  { tag: tags.invalid, color: '#c62828' },
]);

const theme = EditorView.theme({
  '&': {
    border: '1px solid #c9cdd3', borderRadius: '5px', background: '#fff', fontSize: '13.5px',
  },
  '&.cm-focused': { outline: 'none', borderColor: '#1f6fd0', boxShadow: '0 0 0 3px rgba(31, 111, 208, .45)' },
  '.cm-content': {
    fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace',
    padding: '8px 0', minHeight: '3.6em',
  },
  '.cm-line': { padding: '0 10px' },
  '.cm-scroller': { overflow: 'auto', maxHeight: '14em' },
  '.cm-placeholder': { color: '#5f6670' },
  '.cm-tooltip.cm-tooltip-autocomplete > ul': {
    fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace', maxHeight: '16em',
  },
  '.cm-completionDetail': { color: '#5f6670', fontStyle: 'normal', marginLeft: '1em' },
  '.cm-completionInfo': { maxWidth: '28em', fontSize: '13px' },
  '.cm-diagnostic': { fontSize: '13px' },
});

// fetchFn asks the proxy as the page's own calls do: with the session
// cookie, and X-Requested-With so an expired session answers 401 without a
// password prompt.
function sessionFetch(input, init) {
  const headers = new Headers((init && init.headers) || undefined);
  headers.set('X-Requested-With', 'XMLHttpRequest');
  headers.set('Accept', 'application/json');
  return fetch(input, Object.assign({}, init, { headers, credentials: 'same-origin', cache: 'no-store' }));
}

function completeConfig(url, onError) {
  return {
    remote: {
      url,
      // GET: the proxy answers GET on every read endpoint, and a session
      // POST would need the CSRF token.
      httpMethod: 'GET',
      fetchFn: sessionFetch,
      lookbackInterval: 12 * 60 * 60 * 1000,
      httpErrorHandler: onError,
      cache: { maxAge: 5 * 60 * 1000 },
    },
    maxMetricsMetadata: 10000,
  };
}

// The page puts its CSP nonce on this script's tag; CodeMirror's style
// elements need it. Read it now: currentScript is only set while the
// script first runs.
const pageNonce = (document.currentScript && document.currentScript.nonce) || '';

// create mounts an editor in opts.parent and returns a small handle.
//   doc: the initial query; url: the data source's proxy base (the client
//   adds /api/v1/...); nonce: the CSP nonce for CodeMirror's style elements
//   (default: the one on this script's tag); onRun: Ctrl/Cmd+Enter (and Enter with no completion open);
//   onChange(text); labelledBy, describedBy: ids for the content element.
function create(opts) {
  const promQL = new PromQLExtension()
    .activateCompletion(true)
    .activateLinter(true)
    .setComplete(completeConfig(opts.url, opts.onFetchError));
  // Running closes an open completion list: it would cover the results.
  const run = (view) => {
    closeCompletion(view);
    if (opts.onRun) opts.onRun();
    return true;
  };
  const contentAttrs = { 'aria-multiline': 'true', spellcheck: 'false', autocorrect: 'off', autocapitalize: 'off' };
  if (opts.labelledBy) contentAttrs['aria-labelledby'] = opts.labelledBy;
  if (opts.describedBy) contentAttrs['aria-describedby'] = opts.describedBy;
  const extensions = [
    EditorView.cspNonce.of(opts.nonce || pageNonce),
    highlightSpecialChars(),
    history(),
    drawSelection(),
    indentOnInput(),
    bracketMatching(),
    closeBrackets(),
    autocompletion({ activateOnTyping: true, icons: false }),
    syntaxHighlighting(highlight),
    placeholder(opts.placeholder || 'PromQL, e.g. rate(http_requests_total[5m])'),
    EditorView.lineWrapping,
    EditorView.contentAttributes.of(contentAttrs),
    theme,
    // Enter runs the query unless a completion is open (then it accepts
    // the completion); Shift+Enter adds a line, as in Prometheus' own UI.
    Prec.highest(keymap.of([
      { key: 'Mod-Enter', run },
      {
        key: 'Enter',
        run: (view) => {
          if (completionStatus(view.state) === 'active') return acceptCompletion(view);
          return run(view);
        },
      },
      { key: 'Shift-Enter', run: insertNewlineAndIndent },
    ])),
    keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, ...completionKeymap, ...lintKeymap]),
    promQL.asExtension(),
    EditorView.updateListener.of((u) => {
      if (u.docChanged && opts.onChange) opts.onChange(u.state.doc.toString());
    }),
  ];
  const view = new EditorView({
    state: EditorState.create({ doc: opts.doc || '', extensions }),
    parent: opts.parent,
  });
  return {
    view,
    getValue: () => view.state.doc.toString(),
    setValue: (text) => {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    focus: () => view.focus(),
    // setDataSource points completion at another data source's proxy.
    setDataSource: (url) => {
      promQL.destroy();
      promQL.setComplete(completeConfig(url, opts.onFetchError));
    },
  };
}

window.PromgateEditor = { create };
