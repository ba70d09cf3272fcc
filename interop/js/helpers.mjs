// Helpers for interop.test.mjs: configuration from the environment, error
// reports that name the step without leaking credentials, and the hubfs CLI.
import { execFile, spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

const require = createRequire(import.meta.url)
export const hub = require('@textile/hub')
export const crypto = require('@textile/crypto')
// The Users class always signs and encrypts correctly, so the negative send
// cases (bad signature, bad recipient) go through the same package's own
// request builder, resolved from @textile/hub so it is the copy hub uses.
const requireFromHub = createRequire(require.resolve('@textile/hub'))
export const usersAPI = requireFromHub('@textile/users/dist/cjs/api')

const codeNames = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound',
  'AlreadyExists', 'PermissionDenied', 'ResourceExhausted', 'FailedPrecondition',
  'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss',
  'Unauthenticated',
]
export const Code = Object.fromEntries(codeNames.map((n, i) => [n, i]))
export const codeName = (c) => `${codeNames[c] ?? 'code'} (${c})`

// describeError turns whatever the JS client rejected with into one line.
// Users unary calls reject with {message, code, metadata} where metadata
// holds the API signature and the bearer token: printing the object as
// node:test would do leaks them, so only code and message are kept.
export function describeError (err) {
  if (err && typeof err === 'object' && typeof err.code === 'number' && !(err instanceof Error)) {
    return `gRPC ${codeName(err.code)}: ${JSON.stringify(err.message ?? '')}`
  }
  if (err instanceof Error) return `${err.name}: ${err.message}`
  return `non-error rejection: ${JSON.stringify(err)?.slice(0, 200)}`
}

// call runs one client operation and rethrows its failure as an Error that
// names what was being done, so a test report reads "<step>: <what>: <error>".
export async function call (what, fn) {
  try {
    return await fn()
  } catch (err) {
    throw new Error(`${what} failed: ${describeError(err)}`, { cause: scrub(err) })
  }
}

function scrub (err) {
  if (err && typeof err === 'object' && !(err instanceof Error)) {
    return { code: err.code, message: err.message }
  }
  return err
}

// refused runs fn, which must fail, and returns what it failed with:
// {code, message} for Users unary calls (code undefined for the
// threads-client calls, which reject with a plain Error and lose the code).
export async function refused (what, fn) {
  let res
  try {
    res = await fn()
  } catch (err) {
    if (err instanceof Error) return { code: undefined, message: err.message }
    return { code: err?.code, message: String(err?.message ?? '') }
  }
  throw new Error(`${what}: succeeded (returned ${summarize(res)}), want it refused`)
}

function summarize (v) {
  if (typeof v === 'string') return `a ${v.length}-character string`
  if (Array.isArray(v)) return `${v.length} items`
  return typeof v
}

// expectCode asserts that a refusal carries one of the wanted gRPC codes.
export function expectCode (what, got, ...want) {
  if (!want.includes(got.code)) {
    const w = want.map(codeName).join(' or ')
    const g = got.code === undefined ? 'no code' : codeName(got.code)
    throw new Error(`${what}: refused with ${g}: ${JSON.stringify(got.message)}, want ${w}`)
  }
}

// refusedWith is refused followed by expectCode.
export async function refusedWith (what, fn, ...codes) {
  const got = await refused(what, fn)
  expectCode(what, got, ...codes)
  return got
}

// sameBytes compares bodies without printing them: a 100 KiB mismatch would
// drown the report, and bodies are message plaintext.
export function sameBytes (what, got, want) {
  got = Buffer.from(got)
  want = Buffer.from(want)
  if (got.equals(want)) return
  let i = 0
  while (i < got.length && i < want.length && got[i] === want[i]) i++
  throw new Error(`${what}: got ${got.length} bytes, want ${want.length}; first difference at offset ${i}`)
}

export function check (cond, msg) {
  if (!cond) throw new Error(msg)
}

export const hex = (b) => Buffer.from(b).toString('hex')
export const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'))

// base32 is multibase 'b' (RFC 4648, lower case, no padding): the form of
// hub API secrets, used for made-up secrets in the API-signature vectors.
export function base32 (bytes) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
  let out = 'b'
  let bits = 0
  let value = 0
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31]
  return out
}

// config reads what interop/run.sh exports. Missing values fail loudly: the
// test is meaningless without a server and a key.
export function config () {
  const need = (name) => {
    const v = process.env[name]
    if (!v) throw new Error(`${name} is not set: run this test through interop/run.sh, which starts hubfs serve and creates a key`)
    return v
  }
  const addr = need('HUBFS_INTEROP_ADDR')
  const maxMessage = Number(need('HUBFS_INTEROP_MAX_MESSAGE'))
  if (!Number.isInteger(maxMessage) || maxMessage <= 72) throw new Error(`HUBFS_INTEROP_MAX_MESSAGE=${process.env.HUBFS_INTEROP_MAX_MESSAGE} is not a size in bytes above 72`)
  return {
    addr,
    host: `http://${addr}`,
    key: need('HUBFS_INTEROP_KEY'),
    secret: need('HUBFS_INTEROP_SECRET'),
    secretFile: need('HUBFS_INTEROP_SECRET_FILE'),
    bin: need('HUBFS_INTEROP_BIN'),
    gocrypto: need('HUBFS_INTEROP_GOCRYPTO'),
    work: need('HUBFS_INTEROP_WORK'),
    maxMessage,
  }
}

// run executes a program with a timeout and returns {code, stdout, stderr}.
// It never throws for a non-zero exit: callers decide what failure means.
export function run (file, args, { input, timeout = 30000, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout, maxBuffer: 64 << 20, encoding: 'buffer', env: env ?? process.env }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number' && err.killed !== true) {
        reject(new Error(`run ${file}: ${err.message}`))
        return
      }
      resolve({
        code: err ? (err.killed ? `killed after ${timeout} ms` : err.code) : 0,
        stdout,
        stderr: stderr.toString().trim(),
      })
    })
    if (input !== undefined) child.stdin.end(input)
    else child.stdin.end()
  })
}

// runOK is run for steps that must succeed; the error names the command
// (without its flags, which hold paths to secrets) and its stderr.
export async function runOK (what, file, args, opts) {
  const res = await run(file, args, opts)
  if (res.code !== 0) {
    throw new Error(`${what}: exit ${res.code}: ${res.stderr.split('\n').slice(-5).join(' | ') || '(no stderr)'}`)
  }
  return res
}

const commandCache = new Map()

// hasCommand tells whether the hubfs binary has a subcommand yet: urfave/cli
// answers "No help topic" (exit 3) for one it does not know. The
// cross-client steps skip on this, and only on this, so a subcommand that
// exists but fails is a failure, not a skip.
export async function hasCommand (bin, name) {
  if (!commandCache.has(name)) {
    const res = await run(bin, [name, '--help'])
    if (res.code === 0) commandCache.set(name, true)
    else if (res.code === 3 && res.stderr.includes('No help topic')) commandCache.set(name, false)
    else throw new Error(`hubfs ${name} --help: exit ${res.code}: ${res.stderr || '(no stderr)'}`)
  }
  return commandCache.get(name)
}

export function readText (path) {
  return readFileSync(path, 'utf8').trim()
}

// waitFor polls cond until it returns a truthy value or the deadline
// passes; the deadline is a guard against hanging, not a speed assertion.
export async function waitFor (what, cond, { timeout = 15000, every = 100 } = {}) {
  const end = Date.now() + timeout
  let last
  for (;;) {
    try {
      const v = await cond()
      if (v) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > end) {
      throw new Error(`${what}: not after ${timeout} ms${last ? `; last error: ${last.message ?? describeError(last)}` : ''}`)
    }
    await sleep(every)
  }
}

export function isMounted (dir) {
  const info = readFileSync('/proc/self/mountinfo', 'utf8')
  return info.split('\n').some((l) => l.split(' ')[4] === dir)
}

export { spawn }
