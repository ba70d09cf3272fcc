// Latency of the official JS client against hubfs serve, printed, never
// asserted. interop/run.sh runs it when HUBFS_INTEROP_BENCH=1. Each @textile/hub
// call opens its own websocket, so these figures include a connection setup
// per call, as a real JS app pays it.
import { randomBytes } from 'node:crypto'
import { hub, config, call } from './helpers.mjs'

const { Users, PrivateKey } = hub
const cfg = config()

async function user () {
  const id = PrivateKey.fromRandom()
  const users = await Users.withKeyInfo({ key: cfg.key, secret: cfg.secret }, { host: cfg.host })
  await call('getToken', () => users.getToken(id))
  await call('setupMailbox', () => users.setupMailbox())
  return { id, users }
}

async function measure (name, n, fn) {
  for (let i = 0; i < Math.min(5, n); i++) await fn(i) // warm up
  const ms = []
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint()
    await fn(i)
    ms.push(Number(process.hrtime.bigint() - t) / 1e6)
  }
  const total = Number(process.hrtime.bigint() - start) / 1e9
  ms.sort((a, b) => a - b)
  const q = (p) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))].toFixed(2)
  console.log(`${name.padEnd(38)} n=${String(n).padStart(4)}  p50 ${q(0.5).padStart(7)} ms  p99 ${q(0.99).padStart(7)} ms  ${(n / total).toFixed(1).padStart(7)} ops/s`)
}

const a = await user()
const b = await user()
const KiB = 1024
const small = randomBytes(KiB)
const big = randomBytes(100 * KiB)

await measure('listThreads (unary)', 200, () => a.users.listThreads())
await measure('getToken (bidi stream)', 50, () => a.users.getToken(a.id))
await measure('sendMessage 1 KiB', 100, () => a.users.sendMessage(a.id, b.id.public, small))
await measure('sendMessage 100 KiB', 20, () => a.users.sendMessage(a.id, b.id.public, big))
await measure('listInboxMessages limit 100 (1 KiB)', 50, () => b.users.listInboxMessages({ limit: 100 }))

// Send → CREATE event on an open watchInbox. The event can come before
// sendMessage has returned its id, so arrivals are kept by id.
const mailbox = await b.users.getMailboxID()
const arrived = new Set()
let wake = () => {}
const closer = b.users.watchInbox(mailbox, (ev) => {
  if (ev && ev.type === 'CREATE') {
    arrived.add(ev.messageID)
    wake()
  }
})
await new Promise((resolve) => setTimeout(resolve, 300)) // let Listen subscribe
await measure('sendMessage → watchInbox CREATE', 50, async () => {
  const r = await a.users.sendMessage(a.id, b.id.public, small)
  const deadline = Date.now() + 10000
  while (!arrived.has(r.id)) {
    if (Date.now() > deadline) throw new Error(`no CREATE event for ${r.id} within 10 s`)
    await new Promise((resolve) => { wake = resolve; setTimeout(resolve, 100) })
  }
})
closer.close()
