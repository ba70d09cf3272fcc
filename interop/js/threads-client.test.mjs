// Interop test (issue 12): the official ThreadDB `Client` of @textile/hub
// (@textile/threads-client 2.3.4) against `hubfs serve`: databases,
// collections, instances, queries, transactions, listen, isolation between
// two users, an insecure (non-signing) key, getUsage's products, and the
// answer to a method the hub does not serve. interop/run.sh starts the
// server and sets the environment.
//
// The threads client rejects with a plain Error carrying the status
// message only (its code is lost), so refusals are checked by message: the
// texts are go-threads' own (docs/protocol.md §8).
import { describe, it, before, after } from 'node:test'
import { createRequire } from 'node:module'
import { hub, call, refused, check, config, describeError, waitFor } from './helpers.mjs'

const { Client, Users, PrivateKey, ThreadID, Where, Query } = hub
const cfg = config()
const keyInfo = { key: cfg.key, secret: cfg.secret }
const STEP = { timeout: 60000 }

// The grpc-web library the client itself uses, for the one call no client
// method makes: a method the hub does not serve.
const requireFromThreads = createRequire(createRequire(import.meta.url).resolve('@textile/threads-client'))
const { grpc } = requireFromThreads('@improbable-eng/grpc-web')
const { WebsocketTransport } = requireFromThreads('@textile/grpc-transport')
const threadsPB = requireFromThreads('@textile/threads-client-grpc/threads_pb')

const personSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'Person',
  type: 'object',
  properties: {
    _id: { type: 'string' },
    name: { type: 'string' },
    email: { type: 'string' },
    age: { type: 'number' },
  },
  required: ['name'],
}

// refusedMsg runs fn, which must fail with a message containing want.
async function refusedMsg (what, fn, want) {
  const got = await refused(what, fn)
  check(got.message.includes(want), `${what}: refused with ${JSON.stringify(got.message)}, want a message containing ${JSON.stringify(want)}`)
  return got
}

async function openClient (what, key = keyInfo) {
  const identity = PrivateKey.fromRandom()
  const client = await call(`${what}: Client.withKeyInfo`, () => Client.withKeyInfo(key, cfg.host))
  await call(`${what}: getToken`, () => client.getToken(identity))
  return { identity, client }
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

const listeners = []
after(() => { for (const l of listeners) l.close() })

describe('ThreadDB Client against hubfs serve', () => {
  before(async () => {
    state.alice = await openClient('alice')
    state.bob = await openClient('bob')
  })

  it('newDB, listDBs (ListThreads with an API secret), getDBInfo', STEP, async (t) => {
    if (!need(t, 'alice')) return
    const c = state.alice.client
    const name = `people-${Date.now()}`
    const db = await call('newDB', () => c.newDB(undefined, name))
    check(db instanceof ThreadID || typeof db?.toString === 'function', `newDB returned ${db}`)
    const dbs = await call('listDBs', () => c.listDBs())
    check(dbs.some((d) => d.id === db.toString() && d.name === name), `listDBs = ${JSON.stringify(dbs)}, want ${db} named ${name}`)
    const info = await call('getDBInfo', () => c.getDBInfo(db))
    check(typeof info.key === 'string' && info.key.length > 0 && Array.isArray(info.addrs), `getDBInfo = ${JSON.stringify(info)}`)
    state.db = db
  })

  it('collections: new, list, info, indexes, update; refusals', STEP, async (t) => {
    if (!need(t, 'db')) return
    const c = state.alice.client
    await call('newCollection', () => c.newCollection(state.db, { name: 'people', schema: personSchema, indexes: [{ path: 'email', unique: true }] }))
    await call('newCollection with the default schema', () => c.newCollection(state.db, { name: 'notes' }))
    await refusedMsg('newCollection of an existing name', () => c.newCollection(state.db, { name: 'people', schema: personSchema }), 'collection already registered')
    await refusedMsg('newCollection with a bad name', () => c.newCollection(state.db, { name: 'no/slashes', schema: personSchema }), 'name may only contain')
    await refusedMsg('newCollection with a schema typing _id as a number', () =>
      c.newCollection(state.db, { name: 'bad', schema: { properties: { _id: { type: 'number' } } } }), 'the collection schema _id property must be a string')
    const list = await call('listCollections', () => c.listCollections(state.db))
    check(list.map((x) => x.name).join() === 'people,notes', `listCollections = ${JSON.stringify(list.map((x) => x.name))}`)
    const info = await call('getCollectionInfo', () => c.getCollectionInfo(state.db, 'people'))
    check(info.name === 'people' && info.schema.title === 'Person' && info.indexes.length === 1 && info.indexes[0].unique === true,
      `getCollectionInfo = ${JSON.stringify(info)}`)
    await call('updateCollection', () => c.updateCollection(state.db, { name: 'people', schema: personSchema, indexes: [{ path: 'email', unique: true }, { path: 'age', unique: false }] }))
    const idx = await call('getCollectionIndexes', () => c.getCollectionIndexes(state.db, 'people'))
    check(idx.length === 2 && idx[1].path === 'age', `getCollectionIndexes = ${JSON.stringify(idx)}`)
    await refusedMsg('getCollectionInfo of a missing collection', () => c.getCollectionInfo(state.db, 'nope'), 'collection not found')
    state.people = true
  })

  it('create, findByID, has, save, verify, delete', STEP, async (t) => {
    if (!need(t, 'people')) return
    const c = state.alice.client
    const ids = await call('create', () => c.create(state.db, 'people', [
      { name: 'Ann', email: 'ann@example.com', age: 30 },
      { _id: 'bob', name: 'Bob', age: 25 },
      { name: 'Cy', age: 41 },
    ]))
    check(ids.length === 3 && ids[0] && ids[1] === 'bob' && ids[2] && ids[0] !== ids[2], `create returned ${JSON.stringify(ids)}`)
    const ann = await call('findByID', () => c.findByID(state.db, 'people', ids[0]))
    check(ann._id === ids[0] && ann.name === 'Ann' && ann.age === 30, `findByID = ${JSON.stringify(ann)}`)
    check(await call('has', () => c.has(state.db, 'people', ids)) === true, 'has(all three) is false')
    check(await call('has', () => c.has(state.db, 'people', ['bob', 'nobody'])) === false, 'has(bob, nobody) is true')
    await call('save', () => c.save(state.db, 'people', [{ ...ann, age: 31 }]))
    const saved = await call('findByID after save', () => c.findByID(state.db, 'people', ids[0]))
    check(saved.age === 31, `after save: ${JSON.stringify(saved)}`)
    await call('verify', () => c.verify(state.db, 'people', [{ ...saved, age: 32 }]))
    check((await c.findByID(state.db, 'people', ids[0])).age === 31, 'verify stored the instance')
    await call('delete', () => c.delete(state.db, 'people', ['bob']))
    check(await c.has(state.db, 'people', ['bob']) === false, 'bob is there after delete')
    await refusedMsg('findByID of a deleted instance', () => c.findByID(state.db, 'people', 'bob'), 'instance not found')
    state.ann = ids[0]
    state.cy = ids[2]
  })

  it('schema refusals on create, save and verify', STEP, async (t) => {
    if (!need(t, 'ann')) return
    const c = state.alice.client
    await refusedMsg('create without the required name', () => c.create(state.db, 'people', [{ age: 3 }]), "instance doesn't correspond to schema")
    await refusedMsg('save with a string age', () => c.save(state.db, 'people', [{ _id: state.ann, name: 'Ann', age: 'old' }]), "instance doesn't correspond to schema")
    await refusedMsg('verify with a numeric name', () => c.verify(state.db, 'people', [{ _id: state.ann, name: 7 }]), "instance doesn't correspond to schema")
    const ann = await c.findByID(state.db, 'people', state.ann)
    check(ann.age === 31 && ann.name === 'Ann', `a refused save changed the instance: ${JSON.stringify(ann)}`)
  })

  it('unique index refusals, all or nothing', STEP, async (t) => {
    if (!need(t, 'ann')) return
    const c = state.alice.client
    await refusedMsg('create with a taken email', () => c.create(state.db, 'people', [{ name: 'Eve', email: 'ann@example.com' }]), 'unique constraint violation')
    await refusedMsg('a batch whose second instance takes an email', () =>
      c.create(state.db, 'people', [{ _id: 'dan', name: 'Dan' }, { name: 'Eve', email: 'ann@example.com' }]), 'unique constraint violation')
    check(await c.has(state.db, 'people', ['dan']) === false, 'the failed batch stored its first instance')
    await refusedMsg('save that takes an email', () => c.save(state.db, 'people', [{ _id: state.cy, name: 'Cy', email: 'ann@example.com' }]), 'unique constraint violation')
  })

  it('find: Where and Query as the client builds them (gt sends ne)', STEP, async (t) => {
    if (!need(t, 'ann')) return
    const c = state.alice.client
    await call('create more', () => c.create(state.db, 'people', [
      { _id: 'p1', name: 'Pat', age: 20 }, { _id: 'p2', name: 'Pam', age: 30 }, { _id: 'p3', name: 'Pia', age: 50 },
    ]))
    const names = (xs) => xs.map((x) => x.name).sort().join()
    const all = await call('find all', () => c.find(state.db, 'people', {}))
    check(all.length === 5, `find({}) = ${names(all)}`)
    const eq = await call('find eq', () => c.find(state.db, 'people', new Where('name').eq('Pam')))
    check(names(eq) === 'Pam', `name == Pam: ${names(eq)}`)
    const ge = await call('find ge', () => c.find(state.db, 'people', new Where('age').ge(41)))
    check(names(ge) === 'Cy,Pia', `age >= 41: ${names(ge)}`)
    const lt = await call('find lt and', () => c.find(state.db, 'people', new Where('age').lt(40).and('name').ne('Pat')))
    check(names(lt) === 'Ann,Pam', `age < 40 and name != Pat: ${names(lt)}`)
    const or = await call('find or', () => c.find(state.db, 'people', new Where('name').eq('Pat').or(new Where('age').gt(9999).and('age').le(31))))
    // gt(9999) goes on the wire as ne(9999) (the client's bug): the hub serves
    // what is sent, so the second branch is "age != 9999 and age <= 31".
    check(names(or) === 'Ann,Pam,Pat', `name == Pat or (age "gt" 9999 and age <= 31): ${names(or)}`)
    const sorted = await call('find sorted, limited', () => c.find(state.db, 'people', new Query().orderByDesc('age').skipNum(1).limitTo(2)))
    check(sorted.map((x) => x.name).join() === 'Cy,Ann', `by age desc, skip 1, limit 2: ${sorted.map((x) => x.name).join()}`)
  })

  it('writeTransaction: buffered writes, errors in the reply, end commits', STEP, async (t) => {
    if (!need(t, 'ann')) return
    const c = state.alice.client
    const txn = c.writeTransaction(state.db, 'people')
    await call('txn start', () => txn.start())
    const ids = await call('txn create', () => txn.create([{ _id: 't1', name: 'Tia' }, { name: 'Tom' }]))
    check(ids.length === 2 && ids[0] === 't1', `txn create = ${JSON.stringify(ids)}`)
    check(await call('txn has', () => txn.has(['t1'])) === false, 'a buffered create is visible inside the transaction (go-threads reads committed state)')
    await refusedMsg('txn create violating the schema', () => txn.create([{ age: 1 }]), "instance doesn't correspond to schema")
    const ann = await call('txn findByID', () => txn.findByID(state.ann))
    check(ann.name === 'Ann', `txn findByID = ${JSON.stringify(ann)}`)
    await call('txn save', () => txn.save([{ ...ann, age: 60 }]))
    check(await c.has(state.db, 'people', ['t1']) === false, 'a buffered create is visible outside before end')
    await call('txn end', () => txn.end())
    check(await c.has(state.db, 'people', ['t1', ids[1]]) === true, 'end did not commit the creates')
    check((await c.findByID(state.db, 'people', state.ann)).age === 60, 'end did not commit the save')
  })

  it('writeTransaction: a unique violation at commit fails end, nothing stored', STEP, async (t) => {
    if (!need(t, 'ann')) return
    const c = state.alice.client
    const txn = c.writeTransaction(state.db, 'people')
    await call('txn start', () => txn.start())
    await call('txn create 1', () => txn.create([{ _id: 'u1', name: 'U', email: 'same@example.com' }]))
    await call('txn create 2', () => txn.create([{ _id: 'u2', name: 'U', email: 'same@example.com' }]))
    await refusedMsg('txn end', () => txn.end(), 'unique constraint violation')
    check(await c.has(state.db, 'people', ['u1']) === false && await c.has(state.db, 'people', ['u2']) === false, 'a failed commit stored part of the transaction')
  })

  it('readTransaction: has, find, findByID', STEP, async (t) => {
    if (!need(t, 'ann')) return
    const c = state.alice.client
    const txn = c.readTransaction(state.db, 'people')
    await call('txn start', () => txn.start())
    check(await call('txn has', () => txn.has([state.ann])) === true, 'read txn has(ann) is false')
    const found = await call('txn find', () => txn.find(new Where('name').eq('Ann')))
    check(found.length === 1 && found[0]._id === state.ann, `read txn find = ${JSON.stringify(found)}`)
    await refusedMsg('txn findByID of a missing id', () => txn.findByID('nobody'), 'instance not found')
    await call('txn end', () => txn.end())
  })

  it('listen: CREATE, SAVE, DELETE per collection and instance filter', STEP, async (t) => {
    if (!need(t, 'ann')) return
    const c = state.alice.client
    const collect = (filters) => {
      const l = { events: [], error: undefined }
      const closer = c.listen(state.db, filters, (ev, err) => {
        if (ev) l.events.push(ev)
        else if (err) l.error = err
      })
      l.close = () => closer.close()
      listeners.push(l)
      return l
    }
    const all = collect([{ collectionName: 'people' }])
    const one = collect([{ instanceID: 'l1' }])
    const deletes = collect([{ collectionName: 'people', actionTypes: ['DELETE'] }])
    const notes = collect([{ collectionName: 'notes' }])
    // The stream is in place once a write made after it is seen: write
    // until the first event arrives, then the real sequence.
    await waitFor('listen subscribed', async () => {
      await c.save(state.db, 'people', [{ _id: 'probe', name: 'Probe' }])
      return all.events.length > 0
    })
    await call('create', () => c.create(state.db, 'people', [{ _id: 'l1', name: 'L' }, { _id: 'l2', name: 'M' }]))
    await call('save', () => c.save(state.db, 'people', [{ _id: 'l1', name: 'L2' }]))
    await call('delete', () => c.delete(state.db, 'people', ['l1']))
    const seen = (l) => l.events.filter((e) => e.instanceID !== 'probe').map((e) => `${e.action}:${e.instanceID}:${e.instance?.name ?? ''}`).join(' ')
    await waitFor('all events', () => { if (all.error) throw all.error; return seen(all).includes('DELETE:l1') })
    check(seen(all) === 'CREATE:l1:L CREATE:l2:M SAVE:l1:L2 DELETE:l1:', `collection stream: ${seen(all)}`)
    await waitFor('instance events', () => seen(one).includes('DELETE:l1'))
    check(seen(one) === 'CREATE:l1:L SAVE:l1:L2 DELETE:l1:', `instance stream: ${seen(one)}`)
    await waitFor('delete events', () => seen(deletes).includes('DELETE:l1'))
    check(seen(deletes) === 'DELETE:l1:', `delete stream: ${seen(deletes)}`)
    check(notes.events.length === 0, `the notes stream saw ${seen(notes)}`)
    for (const l of [all, one, deletes, notes]) check(l.error === undefined, `a stream failed: ${describeError(l.error)}`)
  })

  it('isolation: bob cannot see or touch alice\'s db', STEP, async (t) => {
    if (!need(t, 'ann', 'bob')) return
    const b = state.bob.client
    const mine = await call('bob listDBs', () => b.listDBs())
    check(!mine.some((d) => d.id === state.db.toString()), 'bob lists alice\'s db')
    await refusedMsg('bob findByID', () => b.findByID(state.db, 'people', state.ann), 'db not found')
    await refusedMsg('bob find', () => b.find(state.db, 'people', {}), 'db not found')
    await refusedMsg('bob listCollections', () => b.listCollections(state.db), 'db not found')
    await refusedMsg('bob create', () => b.create(state.db, 'people', [{ name: 'Mallory' }]), 'db not found')
    await refusedMsg('bob save', () => b.save(state.db, 'people', [{ _id: state.ann, name: 'Mallory' }]), 'db not found')
    await refusedMsg('bob delete', () => b.delete(state.db, 'people', [state.ann]), 'db not found')
    await refusedMsg('bob deleteCollection', () => b.deleteCollection(state.db, 'people'), 'db not found')
    await refusedMsg('bob getDBInfo', () => b.getDBInfo(state.db), 'db not found')
    const txn = b.writeTransaction(state.db, 'people')
    await txn.start()
    await refusedMsg('bob writeTransaction', () => txn.create([{ name: 'Mallory' }]), 'db not found')
    const ann = await state.alice.client.findByID(state.db, 'people', state.ann)
    check(ann.name === 'Ann', `alice's instance after bob's calls: ${JSON.stringify(ann)}`)
  })

  it('an insecure (non-signing) key works without a secret; listDBs goes to ListDBs', STEP, async (t) => {
    const key = process.env.HUBFS_INTEROP_INSECURE_KEY
    if (!key) throw new Error('HUBFS_INTEROP_INSECURE_KEY is not set: run through interop/run.sh')
    const { client } = await openClient('insecure', { key })
    const db = await call('newDB', () => client.newDB(undefined, 'dev'))
    await call('newCollection', () => client.newCollection(db, { name: 'things' }))
    const [id] = await call('create', () => client.create(db, 'things', [{ n: 1 }]))
    const got = await call('findByID', () => client.findByID(db, 'things', id))
    check(got.n === 1, `findByID = ${JSON.stringify(got)}`)
    const dbs = await call('listDBs', () => client.listDBs())
    check(dbs.some((d) => d.id === db.toString() && d.name === 'dev'), `listDBs = ${JSON.stringify(dbs)}`)
  })

  it('getUsage: Textile\'s products with quota left, ThreadDB figures counted', STEP, async (t) => {
    if (!need(t, 'ann')) return
    const users = await call('Users.withKeyInfo', () => Users.withKeyInfo(keyInfo, { host: cfg.host }))
    await call('getToken', () => users.getToken(state.alice.identity))
    const u = await call('getUsage', () => users.getUsage())
    const m = Object.fromEntries(u.usage.usageMap ?? Object.entries(u.usage.usage ?? {}))
    for (const k of ['stored_data', 'network_egress', 'instance_reads', 'instance_writes']) {
      check(m[k] && m[k].free > 0 && m[k].grace > 0, `${k} = ${JSON.stringify(m[k])}: want quota left`)
    }
    check(m.instance_writes.total > 10 && m.instance_reads.total > 10 && m.stored_data.total > 0,
      `ThreadDB usage not counted: ${JSON.stringify({ w: m.instance_writes, r: m.instance_reads, d: m.stored_data })}`)
  })

  it('a method the hub does not serve answers Unimplemented, not a closed socket', STEP, async () => {
    const method = {
      methodName: 'NoSuchMethod',
      service: { serviceName: 'threads.pb.API' },
      requestStream: false,
      responseStream: false,
      requestType: threadsPB.ListDBsRequest,
      responseType: threadsPB.ListDBsReply,
    }
    const res = await new Promise((resolve) => {
      grpc.unary(method, {
        request: new threadsPB.ListDBsRequest(),
        host: cfg.host,
        transport: WebsocketTransport(),
        metadata: new grpc.Metadata({}),
        onEnd: resolve,
      })
    })
    check(res.status === grpc.Code.Unimplemented, `status ${res.status} ${JSON.stringify(res.statusMessage)}, want Unimplemented (12)`)
  })

  it('deleteCollection and deleteDB', STEP, async (t) => {
    if (!need(t, 'db')) return
    const c = state.alice.client
    await call('deleteCollection', () => c.deleteCollection(state.db, 'notes'))
    await refusedMsg('find in a deleted collection', () => c.find(state.db, 'notes', {}), 'collection not found')
    await call('deleteDB', () => c.deleteDB(state.db))
    await refusedMsg('find in a deleted db', () => c.find(state.db, 'people', {}), 'db not found')
  })
})
