// Interop test (issue 12 §5): threads as files across clients. The official
// ThreadDB `Client` of @textile/hub and a real `hubfs mount` act as one user
// (the mount's identity file is Textile's key string, which JS loads as it
// is) on one `hubfs serve`: a document JS creates shows as
// MNT/threads/<db>/<coll>/<_id>.json in canonical form, a file written in
// the mount is what JS findByID returns, rm deletes for JS, JS delete
// removes the file, a schema violation written through the mount fails its
// close with EINVAL and JS sees nothing, and .schema.json is the schema JS
// gave. The mount's listings are kept for an hour (--list-ttl,
// --watch-ttl), so whatever changes in it changes by the DB's listen
// stream, not by a TTL running out. interop/run.sh starts the server and
// sets the environment.
import { describe, it, before, after } from 'node:test'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { hub, call, check, config, isMounted, readText, refused, run, runOK, waitFor } from './helpers.mjs'

const { Client, PrivateKey } = hub
const cfg = config()
const STEP = { timeout: 60000 }

const schema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'Person',
  type: 'object',
  properties: {
    _id: { type: 'string' },
    name: { type: 'string' },
    age: { type: 'integer' },
    tags: { type: 'array' },
    address: { type: 'object' },
  },
  required: ['name'],
}

// canonical is the rendering docs/semantics.md gives a document file: keys
// sorted at every level, no spaces, no HTML escaping, and a newline.
function canonical (v) {
  const sort = (x) => {
    if (Array.isArray(x)) return x.map(sort)
    if (x && typeof x === 'object') return Object.fromEntries(Object.keys(x).sort().map((k) => [k, sort(x[k])]))
    return x
  }
  return JSON.stringify(sort(v)) + '\n'
}

const state = {}
function need (t, ...names) {
  const missing = names.filter((n) => state[n] === undefined)
  if (missing.length) {
    t.skip(`needs ${missing.join(', ')} from an earlier step that failed`)
    return false
  }
  return true
}

describe('threads as files: the JS Client and the mount as one user', () => {
  const keyFile = join(cfg.work, 'threads-files.key')
  const mnt = join(cfg.work, 'mnt-threads')
  const dbName = `files-${randomBytes(4).toString('hex')}`
  const coll = 'people'
  const dir = join(mnt, 'threads', dbName, coll)
  const file = (id) => join(dir, `${id}.json`)
  const listed = () => readdirSync(dir).sort()

  before(async () => {
    await runOK('hubfs init', cfg.bin, ['init', '--identity', keyFile])
    // The mount's identity is the key file; JS acts as the same user.
    const identity = PrivateKey.fromString(readText(keyFile))
    const client = await call('Client.withKeyInfo', () => Client.withKeyInfo({ key: cfg.key, secret: cfg.secret }, cfg.host))
    await call('getToken (the mount\'s identity)', () => client.getToken(identity))
    state.db = await call('newDB', () => client.newDB(undefined, dbName))
    await call('newCollection', () => client.newCollection(state.db, { name: coll, schema }))
    mkdirSync(mnt, { recursive: true })
    await runOK('hubfs mount --daemon', cfg.bin, ['mount', '--hub', cfg.addr, '--insecure', '--key', cfg.key,
      '--secret-file', cfg.secretFile, '--identity', keyFile, '--list-ttl', '1h', '--watch-ttl', '1h',
      '--daemon', '--log-file', join(cfg.work, 'mount.log'), mnt])
    await waitFor(`hubfs mount: ${mnt} in /proc/self/mountinfo`, () => isMounted(mnt))
    state.client = client
  })

  after(async () => {
    if (!isMounted(mnt)) return
    const res = await run(cfg.bin, ['umount', mnt])
    if (res.code !== 0 && isMounted(mnt)) await run('umount', ['-l', mnt])
  })

  it('the DB and collection JS made are directories; the listen stream is up', STEP, async (t) => {
    if (!need(t, 'client')) return
    check(readdirSync(join(mnt, 'threads')).includes(dbName), `ls MNT/threads: ${readdirSync(join(mnt, 'threads'))}, want ${dbName}`)
    check(readText(join(mnt, 'threads', dbName, 'id')) === state.db.toString(), `threads/${dbName}/id is not ${state.db}`)
    check(listed().join() === '.schema.json', `ls of the new collection: ${listed()}`)
    // Listing the collection watches the DB. The watch is in place once a
    // document written after it shows: with hour-long listings only an
    // event can bring it in.
    await waitFor('a document JS creates shows in ls (the watch is up)', async () => {
      await state.client.save(state.db, coll, [{ _id: 'probe', name: 'Probe' }])
      return listed().includes('probe.json')
    })
    await call('delete the probe', () => state.client.delete(state.db, coll, ['probe']))
    await waitFor('the probe goes from ls after JS deletes it', () => !listed().includes('probe.json'))
    state.watched = true
  })

  it('.schema.json is the schema JS gave', STEP, async (t) => {
    if (!need(t, 'watched')) return
    const got = readFileSync(join(dir, '.schema.json'), 'utf8')
    check(got === canonical(schema), `.schema.json = ${got}, want ${canonical(schema)}`)
    check(statSync(join(dir, '.schema.json')).size === Buffer.byteLength(got), '.schema.json: stat size is not the size read')
  })

  it('JS create shows as <_id>.json, canonical, without a TTL wait', STEP, async (t) => {
    if (!need(t, 'watched')) return
    const doc = { name: 'Zoë <z&z>', age: 30, tags: ['b', 'a'], address: { zip: '75001', city: 'Paris' } }
    const [id] = await call('create', () => state.client.create(state.db, coll, [doc]))
    await waitFor(`${id}.json in ls`, () => listed().includes(`${id}.json`))
    const want = canonical({ ...doc, _id: id })
    const got = readFileSync(file(id), 'utf8')
    check(got === want, `MNT/.../${id}.json = ${got}, want ${want}`)
    check(statSync(file(id)).size === Buffer.byteLength(want), `stat size ${statSync(file(id)).size}, want ${Buffer.byteLength(want)}`)
    // A save by JS changes what the file reads, and its size.
    await call('save', () => state.client.save(state.db, coll, [{ ...doc, _id: id, age: 31, name: 'Zoë' }]))
    const want2 = canonical({ ...doc, _id: id, age: 31, name: 'Zoë' })
    await waitFor('the file follows a JS save', () => statSync(file(id)).size === Buffer.byteLength(want2) && readFileSync(file(id), 'utf8') === want2)
    state.jsID = id
  })

  it('a file written in the mount is what JS findByID returns', STEP, async (t) => {
    if (!need(t, 'watched')) return
    // Written by a shell, as a user would.
    await runOK('printf > MNT/.../mo.json', 'sh', ['-c', 'printf \'%s\' "$2" > "$1"', 'sh', file('mo'), '{"name": "Mo", "age": 7}'])
    const got = await call('findByID(mo)', () => state.client.findByID(state.db, coll, 'mo'))
    check(canonical(got) === canonical({ _id: 'mo', name: 'Mo', age: 7 }), `findByID(mo) = ${JSON.stringify(got)}`)
    check(readFileSync(file('mo'), 'utf8') === canonical({ _id: 'mo', name: 'Mo', age: 7 }), `mo.json reads ${readFileSync(file('mo'), 'utf8')}`)
    // cp of a file into the collection creates one too.
    const src = join(cfg.work, 'cy.json')
    writeFileSync(src, JSON.stringify({ name: 'Cy', age: 41 }))
    await runOK('cp FILE MNT/.../cy.json', 'cp', [src, file('cy')])
    const cy = await call('findByID(cy)', () => state.client.findByID(state.db, coll, 'cy'))
    check(cy.name === 'Cy' && cy.age === 41, `findByID(cy) = ${JSON.stringify(cy)}`)
    state.mo = true
  })

  it('rm of the file deletes for JS; JS delete removes the file', STEP, async (t) => {
    if (!need(t, 'mo', 'jsID')) return
    await runOK('rm MNT/.../mo.json', 'rm', [file('mo')])
    check(await call('has(mo)', () => state.client.has(state.db, coll, ['mo'])) === false, 'JS still has mo after rm')
    check(!existsSync(file('mo')), 'mo.json is there after rm')
    await call(`delete(${state.jsID})`, () => state.client.delete(state.db, coll, [state.jsID]))
    await waitFor(`${state.jsID}.json goes from ls and stat`, () => !listed().includes(`${state.jsID}.json`) && !existsSync(file(state.jsID)))
  })

  it('a schema violation written in the mount fails the close with EINVAL; JS sees nothing', STEP, async (t) => {
    if (!need(t, 'watched')) return
    for (const [name, body] of [['bad', '{"age": 3}'], ['worse', '{"name": "W", "age": "old"}']]) {
      const fd = openSync(file(name), 'w')
      writeSync(fd, body)
      let closeErr
      try { closeSync(fd) } catch (err) { closeErr = err }
      check(closeErr?.code === 'EINVAL', `close of ${name}.json (${body}): ${closeErr ? closeErr.code : 'succeeded'}, want EINVAL`)
      check(await call(`has(${name})`, () => state.client.has(state.db, coll, [name])) === false, `JS has ${name} after a refused close`)
      check(!existsSync(file(name)), `${name}.json is there after a refused close`)
    }
    const errors = readFileSync(join(mnt, '.hubfs', 'errors'), 'utf8')
    check(errors.split('\n').some((l) => l.includes(`${coll}/bad.json`) && l.includes('EINVAL')), `.hubfs/errors does not name ${coll}/bad.json with EINVAL: ${errors.slice(-500)}`)
    // A refusal by JS (the same schema) agrees.
    const r = await refused('JS create without a name', () => state.client.create(state.db, coll, [{ age: 3 }]))
    check(r.message.includes("doesn't correspond to schema"), `JS refusal: ${r.message}`)
  })
})
