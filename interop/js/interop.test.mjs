// Interop test (issue 7): the official @textile/hub client against
// `hubfs serve`, keys and ciphertexts between @textile/crypto and our Go
// identity package, and mail crossing between a JS user and the hubfs CLI
// and mount. interop/run.sh starts the server and sets the environment; see
// README.md here.
//
// Every step is one test named after what it checks, and every failure says
// which call failed and with what gRPC code and message. Steps run in order
// and share state; a step whose prerequisite failed is skipped with the
// reason, so the first failure is the one to read.
import { describe, it, before, after } from 'node:test'
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import {
  hub, usersAPI, Code, call, refused, refusedWith, sameBytes, check, hex, unhex, base32,
  config, run, runOK, hasCommand, readText, waitFor, isMounted, describeError,
} from './helpers.mjs'

const { Users, PrivateKey, PublicKey, ThreadID, createAPISig, Status } = hub

const cfg = config()
const keyInfo = { key: cfg.key, secret: cfg.secret }
// A step that hangs (a call the server never ends) fails after this, named.
const STEP = { timeout: 60000 }
const KiB = 1024

// state carries what earlier steps made; need() skips a step whose input a
// failed step did not produce, naming that step.
const state = {}
function need (t, ...names) {
  const missing = names.filter((n) => state[n] === undefined)
  if (missing.length) {
    t.skip(`needs ${missing.join(', ')} from an earlier step that failed`)
    return false
  }
  return true
}

async function newUsers () {
  return call('Users.withKeyInfo', () => Users.withKeyInfo(keyInfo, { host: cfg.host }))
}

// openUser makes a fresh identity with a token and a mailbox: the
// precondition of every mail step.
async function openUser (what) {
  const id = PrivateKey.fromRandom()
  const users = await newUsers()
  await call(`${what}: getToken`, () => users.getToken(id))
  const mailbox = await call(`${what}: setupMailbox`, () => users.setupMailbox())
  return { id, users, mailbox }
}

// decryptAndVerify is what a JS app does with a received message: decrypt
// with its own key, then check the sender's signature over the ciphertext.
async function decryptAndVerify (what, msg, reader) {
  const body = await call(`${what}: PrivateKey.decrypt`, () => reader.decrypt(msg.body))
  const ok = await call(`${what}: PublicKey.verify`, () => PublicKey.fromString(msg.from).verify(msg.body, msg.signature))
  check(ok === true, `${what}: signature over the body does not verify with PublicKey.fromString(from=${msg.from})`)
  return body
}

const ULID = /^[0-9a-hjkmnp-tv-z]{26}$/
// ulidTime is the millisecond timestamp in a ULID's first 10 characters.
const ulidTime = (id) => [...id.slice(0, 10)].reduce((n, c) => n * 32 + '0123456789abcdefghjkmnpqrstvwxyz'.indexOf(c), 0)
const nowNs = () => Date.now() * 1e6
// Times are Unix nanoseconds on the wire; a value in seconds or milliseconds
// would be off by 10^6 or more, which this tolerance cannot hide.
function checkNs (what, v) {
  check(typeof v === 'number' && Math.abs(v - nowNs()) < 10 * 60 * 1e9,
    `${what}: ${v} is not the current time in Unix nanoseconds (now ≈ ${nowNs()})`)
}

// watcher collects Listen events from watchInbox/watchSentbox.
function watcher (users, box, mailbox) {
  const w = { events: [], error: undefined, ended: false }
  const fn = box === 'inbox' ? users.watchInbox.bind(users) : users.watchSentbox.bind(users)
  const closer = fn(mailbox, (ev, err) => {
    if (ev) w.events.push(ev)
    else if (err) w.error = err
    else w.ended = true
  })
  w.close = () => closer.close()
  w.find = (type, id) => w.events.find((e) => e.type === type && e.messageID === id)
  w.seen = () => JSON.stringify(w.events.slice(-10).map((e) => [e.type, e.messageID]))
  w.wait = async (what, type, id, timeout = 15000) => {
    try {
      return await waitFor(`${what}: ${type} event for message ${id}`, () => {
        if (w.error) throw new Error(`stream failed: ${describeError(w.error)}`)
        if (w.ended) throw new Error('stream ended')
        return w.find(type, id)
      }, { timeout })
    } catch (err) {
      throw new Error(`${err.message}; last events seen: ${w.seen()}`)
    }
  }
  return w
}

const watchers = []
after(() => { for (const w of watchers) w.close() })

describe('crypto: Go identity and @textile/crypto', () => {
  const js = PrivateKey.fromRandom()
  let go

  before(async () => {
    const res = await runOK('gocrypto make', cfg.gocrypto, ['make', '--to', js.public.toString()])
    go = JSON.parse(res.stdout.toString())
  })

  it('the fixed-seed key and its signature are the same in Go and JS', STEP, async () => {
    const k = PrivateKey.fromRawEd25519Seed(unhex(go.fixed.key.seed_hex))
    check(k.toString() === go.fixed.key.private, `private string: js ${k.toString()}, go ${go.fixed.key.private}`)
    check(k.public.toString() === go.fixed.key.public, `public string: js ${k.public.toString()}, go ${go.fixed.key.public}`)
    const sig = hex(await k.sign(new TextEncoder().encode('hello')))
    check(sig === go.fixed.sign_hello_hex, `sign("hello"): js ${sig}, go ${go.fixed.sign_hello_hex}`)
  })

  it('Go keys parse in JS and re-encode to the same strings', () => {
    for (const [i, g] of go.keys.entries()) {
      const k = PrivateKey.fromString(g.private)
      check(k.toString() === g.private, `keys[${i}]: PrivateKey.fromString(s).toString() != s`)
      check(hex(k.seed) === g.seed_hex, `keys[${i}]: seed differs`)
      check(k.public.toString() === g.public, `keys[${i}]: public string: js ${k.public.toString()}, go ${g.public}`)
      const p = PublicKey.fromString(g.public)
      check(p.toString() === g.public, `keys[${i}]: PublicKey.fromString(s).toString() != s`)
      check(hex(p.pubKey) === g.pub_hex, `keys[${i}]: raw public key differs`)
    }
  })

  it('JS decrypts Go ciphertexts and verifies Go signatures', STEP, async () => {
    let toJS = 0
    for (const [i, c] of go.ciphertexts.entries()) {
      const what = `ciphertexts[${i}] (${c.plaintext_hex.length / 2}-byte plaintext)`
      const ct = unhex(c.ciphertext_hex)
      check(ct.length === c.plaintext_hex.length / 2 + 72, `${what}: ${ct.length}-byte ciphertext, want plaintext + 72`)
      const ok = await PublicKey.fromString(c.from_public).verify(ct, unhex(c.signature_hex))
      check(ok === true, `${what}: Go signature does not verify`)
      let reader
      if (c.to_private) {
        reader = PrivateKey.fromString(c.to_private)
      } else {
        check(c.to_public === js.public.toString(), `${what}: encrypted to ${c.to_public}, not to the JS key`)
        reader = js
        toJS++
      }
      const got = await call(`${what}: decrypt`, () => reader.decrypt(ct))
      sameBytes(what, got, unhex(c.plaintext_hex))
    }
    check(toJS > 0, 'gocrypto made no ciphertexts for the JS public key (--to)')
  })

  it('JS refuses Go-made tampered ciphertexts and wrong signatures', STEP, async () => {
    for (const [i, n] of go.negative.entries()) {
      const what = `negative[${i}] (${n.why})`
      const ct = unhex(n.sealed.ciphertext_hex)
      if (n.kind === 'decrypt') {
        await refused(what, () => PrivateKey.fromString(n.sealed.to_private).decrypt(ct))
      } else {
        let ok = false
        try { ok = await PublicKey.fromString(n.sealed.from_public).verify(ct, unhex(n.sealed.signature_hex)) } catch {}
        check(ok === false, `${what}: verified, want refused`)
      }
    }
  })

  it('Go API signatures equal createAPISig', STEP, async () => {
    let n = 0
    for (const a of go.api_sigs) {
      // createAPISig signs date.toISOString(); the Go-only RFC 3339 form
      // without milliseconds is checked by Go itself.
      if (new Date(a.msg).toISOString() !== a.msg) continue
      const js = await createAPISig(a.secret, new Date(a.msg))
      check(js.msg === a.msg && js.sig === a.sig, `msg ${a.msg}: js sig ${js.sig}, go ${a.sig}`)
      n++
    }
    check(n > 0, 'gocrypto made no API signature over a JS-style date')
  })

  it('Go thread ids parse in JS', () => {
    for (const t of go.thread_ids) {
      const a = ThreadID.fromBytes(unhex(t.bytes_hex))
      check(a.toString() === t.string, `ThreadID.fromBytes: js ${a.toString()}, go ${t.string}`)
      check(hex(ThreadID.fromString(t.string).toBytes()) === t.bytes_hex, `ThreadID.fromString(${t.string}) gives other bytes`)
    }
  })

  it('Go parses JS keys, decrypts JS ciphertexts and checks JS signatures, API signatures and thread ids', STEP, async () => {
    const keys = [PrivateKey.fromRandom(), PrivateKey.fromRandom(), PrivateKey.fromRandom()]
    const [recipient, sender, other] = keys
    const seal = async (toPub, toPriv, plaintext) => {
      const ct = await toPub.encrypt(plaintext)
      return {
        to_public: toPub.toString(),
        to_private: toPriv,
        from_public: sender.public.toString(),
        plaintext_hex: hex(plaintext),
        ciphertext_hex: hex(ct),
        signature_hex: hex(await sender.sign(ct)),
      }
    }
    const v = { maker: 'js', keys: [], ciphertexts: [], api_sigs: [], thread_ids: [], negative: [] }
    for (const k of keys) v.keys.push({ seed_hex: hex(k.seed), private: k.toString(), public: k.public.toString(), pub_hex: hex(k.pubKey) })
    for (const n of [0, 1, 77, KiB, 100 * KiB]) {
      v.ciphertexts.push(await seal(recipient.public, recipient.toString(), randomBytes(n)))
    }
    // Also to a key Go made, so Go decrypts with a key string of its own.
    const goKey = go.keys[0]
    v.ciphertexts.push(await seal(PublicKey.fromString(goKey.public), goKey.private, randomBytes(500)))

    const good = v.ciphertexts[2]
    const flipped = unhex(good.ciphertext_hex); flipped[flipped.length - 1] ^= 1
    const badSig = unhex(good.signature_hex); badSig[0] ^= 0x80
    v.negative.push(
      { kind: 'decrypt', why: 'last ciphertext byte flipped', sealed: { ...good, ciphertext_hex: hex(flipped) } },
      { kind: 'decrypt', why: 'opened with a key it was not encrypted to', sealed: { ...good, to_private: other.toString() } },
      { kind: 'verify', why: 'first signature byte flipped', sealed: { ...good, signature_hex: hex(badSig) } },
      { kind: 'verify', why: 'checked against a key that did not sign', sealed: { ...good, from_public: other.public.toString() } },
    )
    for (const date of [new Date(Date.now() + 30 * 60 * 1000), new Date('2030-01-01T00:00:00.000Z')]) {
      const secret = base32(randomBytes(24))
      const s = await createAPISig(secret, date)
      v.api_sigs.push({ secret, msg: s.msg, sig: s.sig })
    }
    for (let i = 0; i < 2; i++) {
      const id = ThreadID.fromRandom()
      v.thread_ids.push({ bytes_hex: hex(id.toBytes()), string: id.toString() })
    }
    const res = await run(cfg.gocrypto, ['verify'], { input: JSON.stringify(v) })
    let report
    try { report = JSON.parse(res.stdout.toString()) } catch {}
    if (res.code !== 0 || !report || report.failures.length) {
      const failures = report?.failures?.join('; ') || res.stderr || '(no output)'
      throw new Error(`gocrypto verify: exit ${res.code}: ${failures}`)
    }
    check(report.checks >= v.keys.length + v.ciphertexts.length + v.negative.length, `gocrypto verify ran only ${report.checks} checks`)
  })
})

describe('Users API over grpc-websockets', () => {
  const alice = PrivateKey.fromRandom()
  const bob = PrivateKey.fromRandom()
  const carol = PrivateKey.fromRandom()
  // sentToBob lists every alice → bob message: {id, plaintext}.
  const sentToBob = []

  async function send (what, plaintext) {
    const r = await call(`${what}: sendMessage`, () => state.ua.sendMessage(alice, bob.public, plaintext))
    sentToBob.push({ id: r.id, plaintext })
    return r
  }

  async function listAll (what, users, list, opts) {
    return call(`${what}: ${list}(${JSON.stringify(opts ?? {})})`, () => users[list](opts))
  }

  it('Users.withKeyInfo', STEP, async () => {
    state.ua = await newUsers()
    state.ub = await newUsers()
    state.uc = await newUsers()
  })

  it('getToken', STEP, async (t) => {
    if (!need(t, 'ua', 'ub')) return
    const ta = await call('getToken(alice)', () => state.ua.getToken(alice))
    await call('getToken(bob)', () => state.ub.getToken(bob))
    // Clients treat the token as opaque; the hub's auth reads `sub` as the
    // caller, so a token for another key would mix up mailboxes.
    const parts = ta.split('.')
    check(parts.length === 3, `token is not a JWT: ${parts.length} dot-separated parts`)
    let claims
    try { claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString()) } catch (err) {
      throw new Error(`token claims are not base64url JSON: ${err.message}`)
    }
    check(claims.sub === alice.public.toString(), `token sub is ${claims.sub}, want alice's key ${alice.public.toString()}`)
    state.tokenA = ta
  })

  it('getTokenChallenge', STEP, async (t) => {
    if (!need(t, 'uc')) return
    let challengeLen
    const tok = await call('getTokenChallenge(carol)', () => state.uc.getTokenChallenge(carol.public.toString(), async (challenge) => {
      challengeLen = challenge.length
      return carol.sign(challenge)
    }))
    check(challengeLen === 32, `challenge is ${challengeLen} bytes, want 32`)
    check(typeof tok === 'string' && tok.length > 0, 'no token')
    // getTokenChallenge stores the token in the shared context, as getToken does.
    await call('listThreads after getTokenChallenge', () => state.uc.listThreads())
    state.tokenC = tok
  })

  it('setupMailbox twice gives the same id', STEP, async (t) => {
    if (!need(t, 'tokenA')) return
    const a1 = await call('setupMailbox(alice)', () => state.ua.setupMailbox())
    const a2 = await call('setupMailbox(alice) again', () => state.ua.setupMailbox())
    check(a1 === a2, `second setupMailbox gave ${a2}, first ${a1}`)
    ThreadID.fromString(a1)
    const b = await call('setupMailbox(bob)', () => state.ub.setupMailbox())
    check(b !== a1, 'alice and bob got the same mailbox id')
    state.mailboxA = a1
    state.mailboxB = b
  })

  it('getMailboxID', STEP, async (t) => {
    if (!need(t, 'mailboxA')) return
    const id = await call('getMailboxID(alice)', () => state.ua.getMailboxID())
    check(id === state.mailboxA, `getMailboxID gave ${id}, setupMailbox ${state.mailboxA}`)
  })

  it('before setupMailbox: getMailboxID is NotFound, listing is FailedPrecondition', STEP, async (t) => {
    if (!need(t, 'tokenC')) return
    // carol has a token but never set up a mailbox.
    await refusedWith('getMailboxID without a mailbox', () => state.uc.getMailboxID(), Code.NotFound)
    await refusedWith('listInboxMessages without a mailbox', () => state.uc.listInboxMessages(), Code.FailedPrecondition)
    await refusedWith('listSentboxMessages without a mailbox', () => state.uc.listSentboxMessages(), Code.FailedPrecondition)
  })

  it('listThreads', STEP, async (t) => {
    if (!need(t, 'mailboxA')) return
    const list = await call('listThreads(alice)', () => state.ua.listThreads())
    const mail = list.filter((x) => x.name === 'hubmail')
    check(mail.length === 1, `listThreads has ${mail.length} threads named hubmail: ${JSON.stringify(list)}`)
    check(mail[0].id === state.mailboxA, `hubmail id ${mail[0].id}, mailbox ${state.mailboxA}`)
    check(mail[0].isDb === true, 'hubmail is not marked isDb')
  })

  it('getThread', STEP, async (t) => {
    if (!need(t, 'mailboxA')) return
    const th = await call('getThread("hubmail")', () => state.ua.getThread('hubmail'))
    check(th.name === 'hubmail' && th.id === state.mailboxA, `getThread gave ${JSON.stringify(th)}`)
    await refusedWith('getThread("no-such-thread")', () => state.ua.getThread('no-such-thread'), Code.NotFound)
  })

  it('watchInbox: a CREATE event arrives', STEP, async (t) => {
    if (!need(t, 'mailboxA', 'mailboxB')) return
    const wb = watcher(state.ub, 'inbox', state.mailboxB)
    const wa = watcher(state.ua, 'sentbox', state.mailboxA)
    watchers.push(wb, wa)
    // Listen gives no signal that the server has subscribed, so a message
    // sent right after opening may precede the subscription. Probe until one
    // message shows up on both streams; from then on every send must
    // produce its events (checked by the next steps).
    let got
    for (let i = 0; i < 5 && !got; i++) {
      const r = await send('watch probe', Buffer.from(`probe ${i}`))
      try {
        const ev = await wb.wait('watchInbox', 'CREATE', r.id, 1000 * (i + 1))
        await wa.wait('watchSentbox', 'CREATE', r.id, 1000 * (i + 1))
        got = ev
        state.watchedFrom = sentToBob.length - 1
      } catch (err) {
        if (wb.error || wb.ended || wa.error || wa.ended) throw err
      }
    }
    check(got, `no probe message produced a CREATE event on both watchInbox and watchSentbox in 5 tries; inbox events: ${wb.seen()}, sentbox events: ${wa.seen()}`)
    check(got.message, 'CREATE event has no message')
    check(got.message.id === got.messageID, 'event message.id differs from messageID')
    const body = await decryptAndVerify('CREATE event', got.message, bob)
    sameBytes('CREATE event body', body, sentToBob.find((m) => m.id === got.messageID).plaintext)
    state.wb = wb
    state.wa = wa
  })

  it('sendMessage', STEP, async (t) => {
    if (!need(t, 'mailboxA', 'mailboxB')) return
    const before = Date.now()
    for (let i = 0; i < 3; i++) {
      const plaintext = Buffer.from(`message ${i} from alice ${randomBytes(4).toString('hex')}`)
      const r = await send(`message ${i}`, plaintext)
      check(ULID.test(r.id), `message id ${JSON.stringify(r.id)} is not a lower-case ULID`)
      checkNs(`message ${i} createdAt`, r.createdAt)
      check(r.from === alice.public.toString() && r.to === bob.public.toString(), 'sendMessage returned other from/to')
      // The returned body is the copy encrypted to the sender.
      sameBytes(`message ${i} returned body`, await alice.decrypt(r.body), plaintext)
    }
    const ulidMs = ulidTime(sentToBob.at(-1).id)
    check(Math.abs(ulidMs - before) < 60000, `ULID time ${ulidMs} is not the send time ${before}`)
    state.sent = true
  })

  it('watchInbox and watchSentbox: every send produces a CREATE event', STEP, async (t) => {
    if (!need(t, 'sent', 'wb', 'wa')) return
    for (const m of sentToBob.slice(state.watchedFrom)) {
      const ev = await state.wb.wait('watchInbox', 'CREATE', m.id)
      sameBytes(`inbox event ${m.id}`, await decryptAndVerify('inbox event', ev.message, bob), m.plaintext)
      const es = await state.wa.wait('watchSentbox', 'CREATE', m.id)
      sameBytes(`sentbox event ${m.id}`, await decryptAndVerify('sentbox event', es.message, alice), m.plaintext)
    }
  })

  it('listInboxMessages: every message, newest first; bodies decrypt and signatures verify', STEP, async (t) => {
    if (!need(t, 'sent')) return
    const list = await listAll('bob', state.ub, 'listInboxMessages')
    const ids = list.map((m) => m.id)
    const want = sentToBob.map((m) => m.id).sort().reverse()
    check(JSON.stringify(ids) === JSON.stringify(want), `inbox ids ${JSON.stringify(ids)}, want ${JSON.stringify(want)} (all sent, descending by id)`)
    for (const m of list) {
      check(m.from === alice.public.toString() && m.to === bob.public.toString(), `message ${m.id}: from/to are ${m.from} / ${m.to}`)
      checkNs(`message ${m.id} createdAt`, m.createdAt)
      check(m.readAt === 0, `message ${m.id}: readAt ${m.readAt} before it was read`)
      sameBytes(`message ${m.id}`, await decryptAndVerify(`inbox message ${m.id}`, m, bob), sentToBob.find((s) => s.id === m.id).plaintext)
    }
    state.inboxDesc = ids
  })

  it('listInboxMessages: limit', STEP, async (t) => {
    if (!need(t, 'inboxDesc')) return
    const list = await listAll('bob', state.ub, 'listInboxMessages', { limit: 2 })
    check(JSON.stringify(list.map((m) => m.id)) === JSON.stringify(state.inboxDesc.slice(0, 2)), `limit 2 gave ${JSON.stringify(list.map((m) => m.id))}`)
  })

  it('listInboxMessages: seek is inclusive, descending', STEP, async (t) => {
    if (!need(t, 'inboxDesc')) return
    const d = state.inboxDesc
    const list = await listAll('bob', state.ub, 'listInboxMessages', { seek: d[1], limit: 2 })
    check(JSON.stringify(list.map((m) => m.id)) === JSON.stringify(d.slice(1, 3)), `seek ${d[1]} limit 2 gave ${JSON.stringify(list.map((m) => m.id))}, want ${JSON.stringify(d.slice(1, 3))}`)
  })

  it('listInboxMessages: ascending, with and without seek', STEP, async (t) => {
    if (!need(t, 'inboxDesc')) return
    const asc = [...state.inboxDesc].reverse()
    const all = await listAll('bob', state.ub, 'listInboxMessages', { ascending: true })
    check(JSON.stringify(all.map((m) => m.id)) === JSON.stringify(asc), `ascending gave ${JSON.stringify(all.map((m) => m.id))}`)
    const page = await listAll('bob', state.ub, 'listInboxMessages', { ascending: true, seek: asc[1], limit: 2 })
    check(JSON.stringify(page.map((m) => m.id)) === JSON.stringify(asc.slice(1, 3)), `ascending seek ${asc[1]} limit 2 gave ${JSON.stringify(page.map((m) => m.id))}`)
  })

  it('readInboxMessage', STEP, async (t) => {
    if (!need(t, 'inboxDesc')) return
    const id = state.inboxDesc[0]
    const r = await call(`readInboxMessage(${id})`, () => state.ub.readInboxMessage(id))
    checkNs('readAt', r.readAt)
    const list = await listAll('bob', state.ub, 'listInboxMessages')
    const m = list.find((x) => x.id === id)
    check(m && m.readAt > 0, `after readInboxMessage, the listing shows readAt ${m?.readAt}`)
    state.readID = id
  })

  it('watchInbox: a SAVE event follows readInboxMessage', STEP, async (t) => {
    if (!need(t, 'readID', 'wb')) return
    const ev = await state.wb.wait('watchInbox', 'SAVE', state.readID)
    check(ev.message && ev.message.readAt > 0, `SAVE event readAt is ${ev.message?.readAt}`)
  })

  it('listInboxMessages: status UNREAD leaves out the read message', STEP, async (t) => {
    if (!need(t, 'readID')) return
    const unread = await listAll('bob', state.ub, 'listInboxMessages', { status: Status.UNREAD })
    const want = state.inboxDesc.filter((id) => id !== state.readID)
    check(JSON.stringify(unread.map((m) => m.id)) === JSON.stringify(want), `UNREAD gave ${JSON.stringify(unread.map((m) => m.id))}, want ${JSON.stringify(want)}`)
    // Status.ALL is 0, which the client leaves off the wire.
    const all = await listAll('bob', state.ub, 'listInboxMessages', { status: Status.ALL })
    check(all.length === state.inboxDesc.length, `ALL gave ${all.length} messages, want ${state.inboxDesc.length}`)
  })

  it('deleteInboxMessage', STEP, async (t) => {
    if (!need(t, 'inboxDesc')) return
    const id = state.inboxDesc[1]
    await call(`deleteInboxMessage(${id})`, () => state.ub.deleteInboxMessage(id))
    const list = await listAll('bob', state.ub, 'listInboxMessages')
    check(!list.some((m) => m.id === id), `message ${id} is still in the inbox`)
    check(list.length === state.inboxDesc.length - 1, `inbox has ${list.length} messages, want ${state.inboxDesc.length - 1}`)
    state.deletedID = id
  })

  it('watchInbox: a DELETE event follows deleteInboxMessage', STEP, async (t) => {
    if (!need(t, 'deletedID', 'wb')) return
    await state.wb.wait('watchInbox', 'DELETE', state.deletedID)
  })

  it('listSentboxMessages', STEP, async (t) => {
    if (!need(t, 'sent')) return
    const list = await listAll('alice', state.ua, 'listSentboxMessages')
    const want = sentToBob.map((m) => m.id).sort().reverse()
    check(JSON.stringify(list.map((m) => m.id)) === JSON.stringify(want), `sentbox ids ${JSON.stringify(list.map((m) => m.id))}, want ${JSON.stringify(want)}`)
    for (const m of list) {
      check(m.readAt === 0, `sentbox message ${m.id} has readAt ${m.readAt}`)
      // The sentbox copy is encrypted to the sender.
      sameBytes(`sentbox message ${m.id}`, await decryptAndVerify(`sentbox message ${m.id}`, m, alice), sentToBob.find((s) => s.id === m.id).plaintext)
    }
    const page = await listAll('alice', state.ua, 'listSentboxMessages', { ascending: true, seek: want.at(-2), limit: 1 })
    check(page.length === 1 && page[0].id === want.at(-2), `sentbox ascending seek ${want.at(-2)} limit 1 gave ${JSON.stringify(page.map((m) => m.id))}`)
    state.sentboxDesc = want
  })

  it('deleteSentboxMessage', STEP, async (t) => {
    if (!need(t, 'sentboxDesc')) return
    const id = state.sentboxDesc[0]
    await call(`deleteSentboxMessage(${id})`, () => state.ua.deleteSentboxMessage(id))
    const list = await listAll('alice', state.ua, 'listSentboxMessages')
    check(!list.some((m) => m.id === id), `message ${id} is still in the sentbox`)
    // Deleting the sender's copy leaves the recipient's alone.
    const inbox = await listAll('bob', state.ub, 'listInboxMessages')
    check(inbox.some((m) => m.id === id), `deleting alice's sentbox copy of ${id} removed bob's inbox copy`)
  })

  it('unknown message ids: reading is refused, deleting is a no-op', STEP, async (t) => {
    if (!need(t, 'inboxDesc')) return
    // A well-formed id that was never sent. The hub's delete of a missing
    // instance succeeds, and a JS app may rely on that to delete twice.
    const ghost = '0'.repeat(26)
    const r = await refused('readInboxMessage of an unknown id', () => state.ub.readInboxMessage(ghost))
    check(r.code !== undefined && r.code !== Code.OK, `readInboxMessage of an unknown id failed without a gRPC code: ${r.message}`)
    await call('deleteInboxMessage of an unknown id', () => state.ub.deleteInboxMessage(ghost))
    await call('deleteSentboxMessage of an unknown id', () => state.ua.deleteSentboxMessage(ghost))
    const list = await listAll('bob', state.ub, 'listInboxMessages')
    check(list.length === state.inboxDesc.length - 1, `after deleting unknown ids the inbox has ${list.length} messages, want ${state.inboxDesc.length - 1}`)
  })

  it('getUsage', STEP, async (t) => {
    if (!need(t, 'tokenA')) return
    const u = await call('getUsage()', () => state.ua.getUsage())
    check(u && typeof u === 'object' && 'customer' in u && 'usage' in u, `getUsage returned ${JSON.stringify(u)}`)
  })

  it('a 100 KiB message', STEP, async (t) => {
    if (!need(t, 'mailboxA', 'mailboxB')) return
    const plaintext = randomBytes(100 * KiB)
    const r = await send('100 KiB message', plaintext)
    const inbox = await listAll('bob', state.ub, 'listInboxMessages', { limit: 1 })
    check(inbox.length === 1 && inbox[0].id === r.id, `newest inbox message is ${inbox[0]?.id}, want ${r.id}`)
    check(inbox[0].body.length === plaintext.length + 72, `inbox body is ${inbox[0].body.length} bytes, want ${plaintext.length + 72}`)
    sameBytes('100 KiB inbox message', await decryptAndVerify('100 KiB inbox message', inbox[0], bob), plaintext)
    const sent = await listAll('alice', state.ua, 'listSentboxMessages', { limit: 1 })
    sameBytes('100 KiB sentbox message', await decryptAndVerify('100 KiB sentbox message', sent[0], alice), plaintext)
    if (state.wb) {
      const ev = await state.wb.wait('watchInbox', 'CREATE', r.id)
      sameBytes('100 KiB CREATE event', await decryptAndVerify('100 KiB CREATE event', ev.message, bob), plaintext)
    }
  })

  // run.sh starts the hub with --max-message-size = cfg.maxMessage bytes of
  // ciphertext per copy; a plaintext is 72 bytes shorter.
  it('a message at the hub\'s size limit is accepted, one byte over is refused with ResourceExhausted', STEP, async (t) => {
    if (!need(t, 'mailboxA', 'mailboxB')) return
    const max = cfg.maxMessage - 72
    const r = await send('message at the limit', randomBytes(max))
    const inbox = await listAll('bob', state.ub, 'listInboxMessages', { limit: 1 })
    check(inbox[0]?.id === r.id && inbox[0].body.length === cfg.maxMessage, `newest inbox message is ${inbox[0]?.id} with ${inbox[0]?.body.length} bytes, want ${r.id} with ${cfg.maxMessage}`)
    await refusedWith('message one byte over the limit', () => state.ua.sendMessage(alice, bob.public, randomBytes(max + 1)), Code.ResourceExhausted)
  })

  // A send carries the body twice, so a far larger one would exceed a
  // websocket read limit sized to one copy: the hub must still answer with
  // the limit, not drop the connection ("Response closed without headers").
  it('a message far over the limit is refused with ResourceExhausted, not a dropped connection', STEP, async (t) => {
    if (!need(t, 'mailboxA', 'mailboxB')) return
    await refusedWith('message 3 × the limit', () => state.ua.sendMessage(alice, bob.public, new Uint8Array(3 * cfg.maxMessage)), Code.ResourceExhausted)
  })
})

describe('wrong auth is refused', () => {
  const who = PrivateKey.fromRandom()

  // Unary Users calls reject with the gRPC code; GetToken goes through the
  // threads client, which keeps only the message, so for it the test can
  // only check that it is refused.
  it('no API key', STEP, async () => {
    const u = await call('Users.withKeyInfo(undefined)', () => Users.withKeyInfo(undefined, { host: cfg.host }))
    await refusedWith('setupMailbox without a key', () => u.setupMailbox(), Code.Unauthenticated)
    await refused('getToken without a key', () => u.getToken(who))
  })

  it('unknown API key', STEP, async () => {
    const u = await call('Users.withKeyInfo(unknown)', () => Users.withKeyInfo({ key: base32(randomBytes(16)), secret: base32(randomBytes(24)) }, { host: cfg.host }))
    await refusedWith('listThreads with an unknown key', () => u.listThreads(), Code.NotFound, Code.Unauthenticated)
    await refused('getToken with an unknown key', () => u.getToken(who))
  })

  it('a bad API signature', STEP, async () => {
    // A signature made with another secret over a valid future date: only
    // the server can tell, since the client checks nothing but the date.
    const sig = await createAPISig(base32(randomBytes(24)))
    const u = Users.withUserAuth({ key: cfg.key, ...sig }, { host: cfg.host })
    await refused('getToken with a bad API signature', () => u.getToken(who))
    if (state.tokenA) await u.setToken(state.tokenA)
    await refusedWith('listThreads with a bad API signature', () => u.listThreads(), Code.Unauthenticated)
  })

  it('a missing API signature', STEP, async () => {
    const u = await call('Users.withKeyInfo without secret', () => Users.withKeyInfo({ key: cfg.key }, { host: cfg.host }))
    if (state.tokenA) await u.setToken(state.tokenA)
    await refusedWith('listThreads without an API signature', () => u.listThreads(), Code.Unauthenticated)
  })

  it('no token', STEP, async () => {
    const u = await newUsers()
    await refusedWith('setupMailbox without a token', () => u.setupMailbox(), Code.Unauthenticated)
    await refusedWith('listThreads without a token', () => u.listThreads(), Code.Unauthenticated)
  })

  it('a forged or malformed token', STEP, async (t) => {
    if (!need(t, 'tokenA')) return
    // alice's token with its subject changed to bob's key keeps alice's
    // signature, so only a server that verifies the JWT refuses it.
    const [h, , s] = state.tokenA.split('.')
    const claims = JSON.parse(Buffer.from(state.tokenA.split('.')[1], 'base64url'))
    claims.sub = PrivateKey.fromRandom().public.toString()
    const forged = [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), s].join('.')
    const u = await newUsers()
    await u.setToken(forged)
    await refusedWith('listThreads with a forged token', () => u.listThreads(), Code.Unauthenticated, Code.PermissionDenied)
    await u.setToken('not-a-jwt')
    await refusedWith('listThreads with a malformed token', () => u.listThreads(), Code.Unauthenticated, Code.PermissionDenied)
  })

  it('watchInbox on another user\'s mailbox is refused', STEP, async (t) => {
    if (!need(t, 'mailboxA', 'ub')) return
    // bob listens on alice's mailbox: the stream must end with an error and
    // carry nothing, or bob would learn who writes to alice and when.
    const w = watcher(state.ub, 'inbox', state.mailboxA)
    watchers.push(w)
    await waitFor('watchInbox(alice\'s mailbox) as bob: the stream fails', () => w.error || w.ended)
    check(w.error, 'the stream ended without an error')
    check(w.events.length === 0, `bob received ${w.events.length} events from alice's mailbox`)
  })

  it('getTokenChallenge answered with the wrong signature', STEP, async () => {
    const u = await newUsers()
    const other = PrivateKey.fromRandom()
    await refused('getTokenChallenge signed by another key', () => u.getTokenChallenge(who.public.toString(), (c) => other.sign(c)))
  })

  it('sendMessage with a bad message signature, a bad recipient, a recipient without a mailbox', STEP, async (t) => {
    const s = await call('sender', () => openUser('sender'))
    const r = await call('recipient', () => openUser('recipient'))
    const body = Buffer.from('x')
    const toBody = await r.id.public.encrypt(body)
    const fromBody = await s.id.public.encrypt(body)
    const send = (to, toSig, fromSig) => usersAPI.sendMessage(s.users, s.id.public.toString(), to, toBody, toSig, fromBody, fromSig)
    const goodTo = await s.id.sign(toBody)
    const goodFrom = await s.id.sign(fromBody)
    // Signed by someone other than the caller: the server checks both.
    const mallory = PrivateKey.fromRandom()
    const badTo = await mallory.sign(toBody)
    const badFrom = await mallory.sign(fromBody)
    await refusedWith('to_signature by another key', () => send(r.id.public.toString(), badTo, goodFrom), Code.Unauthenticated)
    await refusedWith('from_signature by another key', () => send(r.id.public.toString(), goodTo, badFrom), Code.Unauthenticated)
    await refusedWith('recipient "not-a-key"', () => send('not-a-key', goodTo, goodFrom), Code.FailedPrecondition, Code.InvalidArgument)
    const nobody = PrivateKey.fromRandom().public.toString()
    await refusedWith('recipient without a mailbox', () => send(nobody, goodTo, goodFrom), Code.FailedPrecondition)
    // And the well-formed request goes through, so the refusals above are
    // about what was wrong and not about this way of calling.
    await call('the same request, correctly signed', () => send(r.id.public.toString(), goodTo, goodFrom))
  })
})

describe('across clients: JS, the hubfs CLI and the mount', () => {
  const js = PrivateKey.fromRandom()
  const goKeyFile = join(cfg.work, 'go.key')
  const mnt = join(cfg.work, 'mnt')
  const hubFlags = ['--hub', cfg.addr, '--insecure', '--key', cfg.key, '--secret-file', cfg.secretFile, '--identity', goKeyFile]
  const notBuilt = (cmd) => `hubfs ${cmd}: not built yet (no such subcommand in ${cfg.bin})`
  // A step runs only once its subcommands exist; see hasCommand.
  async function gate (t, ...cmds) {
    for (const c of cmds) {
      if (!await hasCommand(cfg.bin, c)) {
        t.skip(notBuilt(c))
        return false
      }
    }
    return true
  }

  before(async () => {
    const res = await runOK('hubfs init', cfg.bin, ['init', '--identity', goKeyFile])
    state.goPub = res.stdout.toString().trim()
    // The key file is the Textile key string on one line: a Go-written key
    // must load in JS as it is.
    state.goKey = PrivateKey.fromString(readText(goKeyFile))
    check(state.goKey.public.toString() === state.goPub, `hubfs init printed ${state.goPub}, but its key file holds ${state.goKey.public.toString()}`)
    const u = await newUsers()
    await call('getToken(js)', () => u.getToken(js))
    await call('setupMailbox(js)', () => u.setupMailbox())
    state.uj = u
    // Any hubfs command that talks to the hub sets up the Go user's
    // mailbox; `ls` also shows it starts empty. Before `ls` existed, JS set
    // it up with the Go key file instead.
    if (await hasCommand(cfg.bin, 'ls')) {
      const ls = await runOK('hubfs ls inbox --json (first use)', cfg.bin, ['ls', ...hubFlags, '--json', 'inbox'])
      check(ls.stdout.toString().trim() === '', `a new Go user's inbox is not empty: ${ls.stdout.toString().slice(0, 200)}`)
    } else {
      const g = await newUsers()
      await call('getToken(go key)', () => g.getToken(state.goKey))
      await call('setupMailbox(go key)', () => g.setupMailbox())
    }
    state.jsToGo = Buffer.from(`from JS to Go ${randomBytes(6).toString('hex')}\n`)
    const r = await call('sendMessage(js → go)', () => u.sendMessage(js, PublicKey.fromString(state.goPub), state.jsToGo))
    state.jsToGoID = r.id
  })

  async function unmount () {
    if (!isMounted(mnt)) return
    const res = await run(cfg.bin, ['umount', mnt])
    if (res.code !== 0 && isMounted(mnt)) await run('umount', ['-l', mnt])
  }
  after(unmount)

  // findFromGo waits for a message from the Go identity with this plaintext
  // in the JS user's inbox, and checks it the way a JS app would.
  async function findFromGo (what, plaintext) {
    return waitFor(`${what}: a message from ${state.goPub} in the JS inbox with the written plaintext`, async () => {
      const list = await call('listInboxMessages(js)', () => state.uj.listInboxMessages())
      for (const m of list.filter((x) => x.from === state.goPub)) {
        const body = await decryptAndVerify(`${what}: message ${m.id}`, m, js)
        if (Buffer.from(body).equals(plaintext)) return m
      }
    })
  }

  it('JS → Go: hubfs cat shows the plaintext', STEP, async (t) => {
    if (!await gate(t, 'cat')) return
    if (!need(t, 'jsToGoID')) return
    const res = await runOK(`hubfs cat ${state.jsToGoID}`, cfg.bin, ['cat', ...hubFlags, state.jsToGoID])
    sameBytes('hubfs cat output', res.stdout, state.jsToGo)
  })

  it('JS → Go: hubfs ls inbox --json lists it', STEP, async (t) => {
    if (!await gate(t, 'ls')) return
    if (!need(t, 'jsToGoID')) return
    const res = await runOK('hubfs ls inbox --json', cfg.bin, ['ls', ...hubFlags, '--json', 'inbox'])
    const text = res.stdout.toString()
    // The scripted contract is one JSON object per line.
    const items = text.split('\n').filter(Boolean).map((line, i) => {
      try { return JSON.parse(line) } catch (err) {
        throw new Error(`hubfs ls --json: line ${i + 1} is not JSON (${err.message}): ${line.slice(0, 120)}`)
      }
    })
    const m = items.find((x) => x.id === state.jsToGoID)
    check(m, `hubfs ls inbox --json does not list ${state.jsToGoID}: ${text.slice(0, 300)}`)
    check(m.from === js.public.toString(), `hubfs ls: from is ${m.from}, want ${js.public.toString()}`)
    check(m.size === state.jsToGo.length, `hubfs ls: size is ${m.size}, want the plaintext size ${state.jsToGo.length}`)
  })

  it('Go → JS: hubfs send, JS decrypts and verifies', STEP, async (t) => {
    if (!await gate(t, 'send')) return
    if (!need(t, 'uj')) return
    const plaintext = Buffer.from(`from Go to JS ${randomBytes(6).toString('hex')}\n`)
    const res = await runOK('hubfs send', cfg.bin, ['send', ...hubFlags, '--to', js.public.toString()], { input: plaintext })
    const id = res.stdout.toString().trim()
    check(ULID.test(id), `hubfs send printed ${JSON.stringify(id.slice(0, 80))}, want the new message id`)
    const m = await findFromGo('hubfs send', plaintext)
    check(m.id === id, `JS found the message as ${m.id}, hubfs send printed ${id}`)
  })

  it('mount: cat MNT/inbox/<id> shows the plaintext', STEP, async (t) => {
    if (!await gate(t, 'mount')) return
    if (!need(t, 'jsToGoID')) return
    mkdirSync(mnt, { recursive: true })
    // The mount's log (no contents, no secrets) is printed by run.sh if
    // the run fails.
    await runOK('hubfs mount --daemon', cfg.bin, ['mount', ...hubFlags, '--daemon', '--log-file', join(cfg.work, 'mount.log'), mnt])
    await waitFor(`hubfs mount: ${mnt} in /proc/self/mountinfo`, () => isMounted(mnt))
    state.mounted = true
    // Read through a separate process, as a user's shell would.
    const res = await runOK(`cat MNT/inbox/${state.jsToGoID}`, 'cat', [join(mnt, 'inbox', state.jsToGoID)])
    sameBytes(`MNT/inbox/${state.jsToGoID}`, res.stdout, state.jsToGo)
  })

  it('mount: writing outbox/<JS key> sends, and JS decrypts and verifies', STEP, async (t) => {
    if (!await gate(t, 'mount')) return
    if (!need(t, 'mounted', 'uj')) return
    const plaintext = Buffer.from(`written to the outbox ${randomBytes(6).toString('hex')}\n`)
    const file = join(mnt, 'outbox', js.public.toString())
    await runOK('write MNT/outbox/<JS key>', 'sh', ['-c', 'cat > "$1"', 'sh', file], { input: plaintext })
    await findFromGo('MNT/outbox', plaintext)
    await runOK('hubfs umount', cfg.bin, ['umount', mnt])
    check(!isMounted(mnt), `${mnt} is still mounted after hubfs umount`)
  })
})
