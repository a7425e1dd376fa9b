'use strict';
/**
 * Throughput of the stream-mode tokenizer against ltx 3.1.2 on the same server→client transcript.
 *
 *   npm run build && node bench/tokenizer.bench.js [--mb 32] [--rounds 5]
 *
 * The transcript is built in memory from the stanza shapes of tests/fixtures/prosody-login.xml:
 * one stream header, then stanzas of mixed sizes (small chat messages and presences, roster
 * pushes, carbons, MUC messages, pubsub/Atom items, rare base64 avatars) with multi-byte text,
 * whitespace keepalives, and the closing tag. Each parser gets exactly the same chunks.
 *
 * Contenders:
 * - ours: XmlTokenizer('stream'), counting ElementTokens. Attributes of top-level elements are
 *   decoded lazily, on first access to `attrs`, so this is the cost of relaying stanzas.
 * - ours + attrs: the same, reading `attrs` of every element (the cost when a consumer looks).
 * - ltx SAX: ltx's streaming parser (the events under `new ltx.Parser()`), counting depth-1
 *   'endElement' events. This is ltx's floor: no tree at all.
 * - ltx DOM: the same parser building an ltx Element per stanza and detaching it at depth 1, as
 *   @xmpp/xml does; what a gateway built on ltx would really pay.
 */
const { XmlTokenizer } = require('../dist/xml/tokenizer.js');
const ltx = require('ltx');

const args = process.argv.slice(2);
const argValue = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const TARGET_BYTES = argValue('--mb', 32) * 1024 * 1024;
const ROUNDS = argValue('--rounds', 5);
/** `--only ours` runs one contender (for `node --cpu-prof`). */
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : null;
const WARMUP_ROUNDS = 2;

// ---------------------------------------------------------------------------------------------
// Transcript

const SENTENCES = [
  'Hey Alice! Did you see the bug where a &gt; b &amp;&amp; c &lt; d broke the parser? 😅',
  'Спасибо! Увидимся в субботу. Не забудь взять документы.',
  'こんにちは、アリスさん！明日の会議は１０時からです。よろしくお願いします。🙇‍♂️',
  'Ça va? On se voit au café à 15h — naïve question: tu as reçu mon mail ?',
  'ok',
  'Deploy finished in 4m12s ✅ all 1,284 tests green, coverage 87.3% (+0.4)',
  'שלום! מה שלומך היום?',
  'The quick brown fox jumps over the lazy dog. '.repeat(6),
  '👩‍💻🚀🇺🇦 &#x1F600; 🎉🎉🎉',
  'Χαίρετε! Η συνάντηση μεταφέρθηκε για την Πέμπτη.',
];
const STATUSES = ['Out for lunch → back at 2pm', 'Слушаю Пятую симфонию 🎶', '会議中', 'On the road &amp; offline-ish', ''];
const NAMES = ['bob@example.org/laptop', 'dmitri@example.ru/телефон', 'yamada@example.jp/phone', 'carol@example.net/web'];
const ME = 'alice@example.org/converse.js-92437881';

/** Deterministic pseudo-random numbers, so every run measures the same bytes. */
let seed = 42;
function random() {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
}
const pick = (list) => list[Math.floor(random() * list.length)];

function avatarData(bytes) {
  const raw = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) raw[i] = Math.floor(random() * 256);
  return raw.toString('base64').replace(/.{76}/g, '$&\n');
}
const AVATAR = avatarData(24 * 1024);

function stanza(n) {
  const from = pick(NAMES);
  const r = random();
  if (r < 0.4) {
    return (
      `<message from='${from}' to='${ME}' type='chat' id='m-${n}' xml:lang='en'><body>${pick(SENTENCES)}</body>` +
      `<active xmlns='http://jabber.org/protocol/chatstates'/><markable xmlns='urn:xmpp:chat-markers:0'/>` +
      `<origin-id xmlns='urn:xmpp:sid:0' id='o-${n}'/><stanza-id xmlns='urn:xmpp:sid:0' id='S${n}x' by='alice@example.org'/></message>`
    );
  }
  if (r < 0.6) {
    return (
      `<presence from='${from}' to='${ME}' xml:lang='en'><show>away</show><status>${pick(STATUSES)}</status>` +
      `<priority>5</priority><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://gajim.org' ver='5w2f1AVt4Wm6y6CN+lDIHkJ0Ad0='/>` +
      `<delay xmlns='urn:xmpp:delay' from='example.org' stamp='2024-03-11T09:41:27Z'/></presence>`
    );
  }
  if (r < 0.7) {
    return `<iq from='example.org' to='${ME}' id='ping-${n}' type='get'><ping xmlns='urn:xmpp:ping'/></iq>`;
  }
  if (r < 0.78) {
    return (
      `<message from='room@conference.example.org/${pick(['Дмитрий', 'Bob', '山田'])}' to='${ME}' type='groupchat' id='g-${n}'>` +
      `<body>${pick(SENTENCES)}</body><occupant-id xmlns='urn:xmpp:occupant-id:0' id='dGhpcyBpcyBhbiBvY2N1cGFudA=='/>` +
      `<stanza-id xmlns='urn:xmpp:sid:0' id='G${n}' by='room@conference.example.org'/></message>`
    );
  }
  if (r < 0.88) {
    return (
      `<message from='alice@example.org/phone' to='${ME}' type='chat'><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>` +
      `<delay xmlns='urn:xmpp:delay' stamp='2024-03-11T09:43:02.118Z'/><message xmlns='jabber:client' from='alice@example.org/phone' ` +
      `to='${from}' type='chat' id='c-${n}'><body>${pick(SENTENCES)}</body></message></forwarded></sent></message>`
    );
  }
  if (r < 0.94) {
    return (
      `<iq type='set' id='push-${n}' to='${ME}'><query xmlns='jabber:iq:roster' ver='${n}'>` +
      `<item jid='${from.split('/')[0]}' subscription='both' name='Bob &quot;the builder&quot; O&apos;Neil'><group>Friends</group>` +
      `<group>Work &amp; Co</group></item></query></iq>`
    );
  }
  if (r < 0.995) {
    const paragraphs = Array.from({ length: 6 }, () => `<p>${pick(SENTENCES)} Attribute values may hold '&gt;', text may hold '>' too.</p>`).join('');
    return (
      `<message from='carol@example.net' to='alice@example.org' type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'>` +
      `<items node='urn:xmpp:microblog:0'><item id='post-${n}'><entry xmlns='http://www.w3.org/2005/Atom'>` +
      `<title type='text'>Notes on &lt;xml&gt; &amp; streams #${n}</title><content type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'>` +
      `${paragraphs}<p><![CDATA[<not-a-tag> & raw ]] text]]></p></div></content></entry></item></items></event></message>`
    );
  }
  return (
    `<iq from='${from.split('/')[0]}' to='${ME}' type='result' id='vc-${n}'><vCard xmlns='vcard-temp'><FN>${from}</FN>` +
    `<PHOTO><TYPE>image/png</TYPE><BINVAL>${AVATAR}</BINVAL></PHOTO></vCard></iq>`
  );
}

function buildTranscript() {
  const parts = [
    "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xml:lang='en' " +
      "id='c81f0e5a-2b4d-4e39-9f6a-7d3b1a0e5c28' version='1.0' from='example.org' xmlns='jabber:client'>",
  ];
  let size = parts[0].length;
  let stanzas = 0;
  while (size < TARGET_BYTES) {
    const next = stanza(stanzas++) + (random() < 0.05 ? ' ' : '');
    parts.push(next);
    size += Buffer.byteLength(next);
  }
  parts.push('</stream:stream>');
  return { bytes: Buffer.from(parts.join('')), stanzas };
}

function split(bytes, size) {
  const chunks = [];
  // Copies, as a socket would deliver them.
  for (let i = 0; i < bytes.length; i += size) chunks.push(Buffer.from(bytes.subarray(i, i + size)));
  return chunks;
}

// ---------------------------------------------------------------------------------------------
// Contenders: each returns the number of top-level elements it saw.

function runOurs(chunks) {
  const tokenizer = new XmlTokenizer('stream');
  let elements = 0;
  for (const chunk of chunks) {
    const { tokens, error } = tokenizer.feed(chunk);
    if (error !== null) throw new Error(`${error.condition}: ${error.text}`);
    for (const token of tokens) if (token.kind === 'element') elements++;
  }
  return elements;
}

function runOursWithAttrs(chunks) {
  const tokenizer = new XmlTokenizer('stream');
  let elements = 0;
  let attributes = 0;
  for (const chunk of chunks) {
    const { tokens, error } = tokenizer.feed(chunk);
    if (error !== null) throw new Error(`${error.condition}: ${error.text}`);
    for (const token of tokens) {
      if (token.kind !== 'element') continue;
      elements++;
      attributes += token.attrs.length;
    }
  }
  return attributes >= 0 ? elements : -1;
}

const SaxLtx = ltx.Parser.prototype.DefaultParser;

function runLtxSax(chunks) {
  const parser = new SaxLtx();
  let depth = 0;
  let elements = 0;
  parser.on('startElement', () => depth++);
  parser.on('endElement', () => {
    if (--depth === 1) elements++;
  });
  for (const chunk of chunks) parser.write(chunk);
  return elements;
}

function runLtxDom(chunks) {
  const parser = new SaxLtx();
  let root = null;
  let cursor = null;
  let elements = 0;
  parser.on('startElement', (name, attrs) => {
    const element = new ltx.Element(name, attrs);
    if (root === null) root = element;
    else if (cursor !== root) cursor.cnode(element);
    cursor = element;
  });
  parser.on('endElement', () => {
    if (cursor === root) return;
    if (cursor.parent === undefined || cursor.parent === null) {
      elements++; // a complete stanza, detached from the root as @xmpp/xml does
      cursor = root;
    } else {
      cursor = cursor.parent;
    }
  });
  parser.on('text', (text) => {
    if (cursor !== null && cursor !== root) cursor.t(text);
  });
  for (const chunk of chunks) parser.write(chunk);
  return elements;
}

// ---------------------------------------------------------------------------------------------

function measure(fn, chunks, bytes) {
  const start = process.hrtime.bigint();
  const elements = fn(chunks);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { elements, mbPerSecond: bytes / 1e6 / seconds };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function main() {
  const { bytes, stanzas } = buildTranscript();
  const contenders = [
    ['ours', runOurs],
    ['ours + attrs', runOursWithAttrs],
    ['ltx SAX', runLtxSax],
    ['ltx DOM', runLtxDom],
  ].filter(([name]) => ONLY === null || name === ONLY);
  console.log(`transcript: ${(bytes.length / 1e6).toFixed(1)} MB, ${stanzas} stanzas; node ${process.version}`);
  console.log(`${WARMUP_ROUNDS} warm-up + ${ROUNDS} measured rounds per chunk size; median MB/s (1 MB = 10^6 bytes)\n`);
  const rows = [];
  for (const size of [65536, 16384, 1024]) {
    const chunks = split(bytes, size);
    const results = new Map(contenders.map(([name]) => [name, []]));
    for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
      // Alternate the order so no contender always runs right after a GC-heavy one.
      const order = round % 2 === 0 ? contenders : [...contenders].reverse();
      for (const [name, fn] of order) {
        const { elements, mbPerSecond } = measure(fn, chunks, bytes.length);
        if (elements !== stanzas) throw new Error(`${name} saw ${elements} elements, expected ${stanzas}`);
        if (round >= WARMUP_ROUNDS) results.get(name).push(mbPerSecond);
      }
    }
    const ours = median(results.get('ours') ?? [NaN]);
    const oursAttrs = median(results.get('ours + attrs') ?? [NaN]);
    const sax = median(results.get('ltx SAX') ?? [NaN]);
    const dom = median(results.get('ltx DOM') ?? [NaN]);
    rows.push({ size, ours, oursAttrs, sax, dom });
  }
  const label = (size) => (size >= 1024 ? `${size / 1024} KiB` : `${size} B`);
  console.log('| chunk | ours | ours + attrs | ltx SAX | ltx DOM | ours / ltx SAX | ours + attrs / ltx SAX | ours / ltx DOM |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  const x = (a, b) => `${(a / b).toFixed(2)}×`;
  for (const { size, ours, oursAttrs, sax, dom } of rows) {
    console.log(
      `| ${label(size)} | ${ours.toFixed(0)} | ${oursAttrs.toFixed(0)} | ${sax.toFixed(0)} | ${dom.toFixed(0)} | ` +
        `${x(ours, sax)} | ${x(oursAttrs, sax)} | ${x(ours, dom)} |`,
    );
  }
}

main();
