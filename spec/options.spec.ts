import { expect } from 'chai'
import { execFileSync } from 'node:child_process'
import { SmtpwireError } from '../lib/errors.js'
import { ProcessingGate } from '../lib/gate.js'
import { SILENT } from '../lib/logger.js'
import {
  DEFAULT_CHUNK_SIZE,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_MAX_QUEUED_REPLY_OCTETS,
  resolveOptions,
  type ResolvedOptions,
  type SmtpOptions,
} from '../lib/options.js'

const DEFAULTS: ResolvedOptions = {
  domain: 'localhost',
  greeting: 'ESMTP smtpwire',
  chunkSize: 16384,
  maxMessageSize: 26214400,
  maxRecipients: 100,
  maxLineLength: 512,
  maxTextLineLength: 0,
  lineEndings: 'reject',
  collectBody: 'auto',
  maxHeaderSize: 65536,
  maxQueuedReplyOctets: 65536,
  maxErrors: 10,
  addReceivedHeader: false,
  size: true,
  pipelining: true,
  eightBitMime: true,
  smtpUtf8: true,
  enhancedStatusCodes: true,
  chunking: true,
  binaryMime: true,
  dsn: false,
  lmtp: false,
  tlsPolicy: 'optional',
  authPolicy: 'optional',
  authMechanisms: null,
  allowInsecureAuth: false,
  maxAuthFailures: 3,
  commandTimeout: 300_000,
  dataTimeout: 180_000,
  sessionTimeout: 3_600_000,
  listenerTimeout: 60_000,
  logger: SILENT,
  trace: false,
  trustedProxies: [],
  gate: null,
}

const BOOLEANS = [
  'addReceivedHeader',
  'size',
  'pipelining',
  'eightBitMime',
  'smtpUtf8',
  'enhancedStatusCodes',
  'chunking',
  'binaryMime',
  'dsn',
  'lmtp',
  'allowInsecureAuth',
  'trace',
] as const

const MECHANISMS_MESSAGE = 'option `authMechanisms` must list distinct names among PLAIN, LOGIN, CRAM-MD5, XOAUTH2'

/** Options as a JavaScript caller might pass them, past the types. */
function untyped(options: Record<string, unknown>): SmtpOptions {
  return options as SmtpOptions
}

/** What resolveOptions threw, or null. */
function resolveError(options: SmtpOptions): unknown {
  try {
    resolveOptions(options)
  } catch (err) {
    return err
  }
  return null
}

function expectInvalid(options: SmtpOptions, message: string): void {
  const err = resolveError(options)
  expect(err, message).to.be.instanceOf(SmtpwireError)
  expect(err).to.include({ code: 'SMTPWIRE_ERR_INVALID_OPTION', message })
}

describe('resolveOptions', () => {
  describe('defaults', () => {
    it('fills in every default', () => {
      expect(resolveOptions()).to.deep.equal(DEFAULTS)
      expect(resolveOptions({})).to.deep.equal(DEFAULTS)
    })

    it('exports the default sizes', () => {
      expect(DEFAULT_CHUNK_SIZE).to.equal(16 * 1024)
      expect(DEFAULT_MAX_MESSAGE_SIZE).to.equal(25 * 1024 * 1024)
      expect(DEFAULT_MAX_QUEUED_REPLY_OCTETS).to.equal(64 * 1024)
    })

    it('greets as LMTP in LMTP mode', () => {
      expect(resolveOptions({ lmtp: true })).to.deep.equal({ ...DEFAULTS, lmtp: true, greeting: 'LMTP smtpwire' })
    })

    it('keeps a greeting that was given, in either mode', () => {
      expect(resolveOptions({ lmtp: true, greeting: 'ready' }).greeting).to.equal('ready')
      expect(resolveOptions({ greeting: '' }).greeting).to.equal('')
    })

    it('ignores options set to undefined', () => {
      const options: SmtpOptions = {
        domain: undefined,
        greeting: undefined,
        chunkSize: undefined,
        binaryMime: undefined,
        lmtp: undefined,
      }
      expect(resolveOptions(options)).to.deep.equal(DEFAULTS)
    })

    it('takes every option it is given', () => {
      const options: Required<SmtpOptions> = {
        domain: 'mx.example.org',
        greeting: 'Hello there',
        chunkSize: 1,
        maxMessageSize: 0,
        maxRecipients: 1,
        maxLineLength: 64,
        maxTextLineLength: 2000,
        lineEndings: 'normalize',
        collectBody: true,
        maxHeaderSize: 0,
        maxQueuedReplyOctets: 1,
        maxErrors: 0,
        addReceivedHeader: true,
        size: false,
        pipelining: false,
        eightBitMime: false,
        smtpUtf8: false,
        enhancedStatusCodes: false,
        chunking: false,
        binaryMime: false,
        dsn: true,
        lmtp: true,
        tlsPolicy: 'required',
        authPolicy: 'forbidden',
        authMechanisms: ['XOAUTH2', 'CRAM-MD5'],
        allowInsecureAuth: true,
        maxAuthFailures: 0,
        commandTimeout: 0,
        dataTimeout: 1,
        sessionTimeout: 2,
        listenerTimeout: Number.POSITIVE_INFINITY,
        logger: console,
        trace: true,
        trustedProxies: ['10.0.0.0/8', '2001:db8::1'],
        gate: new ProcessingGate(2),
      }
      expect(resolveOptions(options)).to.deep.equal(options)
    })

    for (const lineEndings of ['reject', 'normalize', 'keep'] as const) {
      it(`takes lineEndings '${lineEndings}'`, () => {
        expect(resolveOptions({ lineEndings }).lineEndings).to.equal(lineEndings)
      })
    }
    for (const collectBody of [true, false, 'auto'] as const) {
      it(`takes collectBody ${String(collectBody)}`, () => {
        expect(resolveOptions({ collectBody }).collectBody).to.equal(collectBody)
      })
    }
    for (const policy of ['forbidden', 'optional', 'required'] as const) {
      it(`takes tlsPolicy and authPolicy '${policy}'`, () => {
        const resolved = resolveOptions({ tlsPolicy: policy, authPolicy: policy })
        expect([resolved.tlsPolicy, resolved.authPolicy]).to.deep.equal([policy, policy])
      })
    }
    for (const domain of ['mx', 'bücher.example', '[192.0.2.1]', '[IPv6:2001:db8::1]']) {
      it(`takes domain ${domain}`, () => expect(resolveOptions({ domain }).domain).to.equal(domain))
    }
  })

  describe('BINARYMIME and CHUNKING', () => {
    it('turns BINARYMIME off with CHUNKING unless it was asked for', () => {
      expect(resolveOptions({ chunking: false })).to.deep.equal({ ...DEFAULTS, chunking: false, binaryMime: false })
      const off = { ...DEFAULTS, chunking: false, binaryMime: false }
      expect(resolveOptions({ chunking: false, binaryMime: false })).to.deep.equal(off)
    })

    it('refuses BINARYMIME asked for without CHUNKING', () => {
      expectInvalid({ chunking: false, binaryMime: true }, 'option `binaryMime` needs `chunking` (RFC 3030 §3)')
    })

    it('keeps BINARYMIME off when only it is turned off', () => {
      expect(resolveOptions({ binaryMime: false })).to.deep.equal({ ...DEFAULTS, binaryMime: false })
    })
  })

  describe('validation', () => {
    const cases: Array<[options: SmtpOptions, message: string]> = [
      [{ domain: '' }, 'option `domain` must be one word of printable characters'],
      [{ domain: 'mx test' }, 'option `domain` must be one word of printable characters'],
      [{ domain: 'mx\ttest' }, 'option `domain` must be one word of printable characters'],
      [{ domain: 'mx.test\r\n' }, 'option `domain` must be one word of printable characters'],
      [{ domain: 'mx\x7f' }, 'option `domain` must be one word of printable characters'],
      [{ greeting: 'hi\r\n250 injected' }, 'option `greeting` must not contain CR or LF'],
      [{ greeting: 'hi\n' }, 'option `greeting` must not contain CR or LF'],
      [{ greeting: 'hi\r' }, 'option `greeting` must not contain CR or LF'],
      [{ chunkSize: 0 }, 'option `chunkSize` must be an integer >= 1, got 0'],
      [{ chunkSize: 1.5 }, 'option `chunkSize` must be an integer >= 1, got 1.5'],
      [{ chunkSize: Number.NaN }, 'option `chunkSize` must be an integer >= 1, got NaN'],
      [{ chunkSize: Number.POSITIVE_INFINITY }, 'option `chunkSize` must be an integer >= 1, got Infinity'],
      [untyped({ chunkSize: '10' }), 'option `chunkSize` must be an integer >= 1, got 10'],
      [{ maxMessageSize: -1 }, 'option `maxMessageSize` must be an integer >= 0, got -1'],
      [{ listenerTimeout: -1 }, 'option `listenerTimeout` must be an integer >= 0, got -1'],
      [{ listenerTimeout: 0.5 }, 'option `listenerTimeout` must be an integer >= 0, got 0.5'],
      [{ maxMessageSize: 2 ** 53 }, 'option `maxMessageSize` must be an integer >= 0, got 9007199254740992'],
      [{ maxRecipients: 0 }, 'option `maxRecipients` must be an integer >= 1, got 0'],
      [{ maxLineLength: 63 }, 'option `maxLineLength` must be an integer >= 64, got 63'],
      [{ maxTextLineLength: -1 }, 'option `maxTextLineLength` must be an integer >= 0, got -1'],
      [{ maxHeaderSize: -1 }, 'option `maxHeaderSize` must be an integer >= 0, got -1'],
      [{ maxQueuedReplyOctets: 0 }, 'option `maxQueuedReplyOctets` must be an integer >= 1, got 0'],
      [{ maxQueuedReplyOctets: 1024.5 }, 'option `maxQueuedReplyOctets` must be an integer >= 1, got 1024.5'],
      [{ commandTimeout: 2 ** 31 }, 'option `commandTimeout` must be at most 2147483647 ms (a longer timer would fire at once), got 2147483648'],
      [{ dataTimeout: -1 }, 'option `dataTimeout` must be an integer >= 0, got -1'],
      [{ sessionTimeout: 30 * 24 * 3600 * 1000 }, 'option `sessionTimeout` must be at most 2147483647 ms (a longer timer would fire at once), got 2592000000'],
      [{ maxErrors: -1 }, 'option `maxErrors` must be an integer >= 0, got -1'],
      [{ maxErrors: 0.5 }, 'option `maxErrors` must be an integer >= 0, got 0.5'],
      [untyped({ maxErrors: null }), 'option `maxErrors` must be an integer >= 0, got null'],
      [untyped({ lineEndings: 'crlf' }), "option `lineEndings` must be 'reject', 'normalize' or 'keep'"],
      [untyped({ collectBody: 'yes' }), "option `collectBody` must be true, false or 'auto'"],
      [untyped({ collectBody: 1 }), "option `collectBody` must be true, false or 'auto'"],
      [{ maxAuthFailures: -1 }, 'option `maxAuthFailures` must be an integer >= 0, got -1'],
      [{ maxAuthFailures: 2.5 }, 'option `maxAuthFailures` must be an integer >= 0, got 2.5'],
      [untyped({ tlsPolicy: 'on' }), "option `tlsPolicy` must be 'forbidden', 'optional' or 'required'"],
      [untyped({ tlsPolicy: true }), "option `tlsPolicy` must be 'forbidden', 'optional' or 'required'"],
      [untyped({ authPolicy: 'Required' }), "option `authPolicy` must be 'forbidden', 'optional' or 'required'"],
      [untyped({ authMechanisms: ['GSSAPI'] }), MECHANISMS_MESSAGE],
      [untyped({ authMechanisms: ['plain'] }), MECHANISMS_MESSAGE],
      [{ authMechanisms: ['PLAIN', 'LOGIN', 'PLAIN'] }, MECHANISMS_MESSAGE],
      [untyped({ authMechanisms: 'PLAIN' }), MECHANISMS_MESSAGE],
      [untyped({ authMechanisms: { 0: 'PLAIN', length: 1 } }), MECHANISMS_MESSAGE],
      [untyped({ logger: { debug() {}, info() {}, warn() {} } }), 'option `logger` must have debug, info, warn and error methods'],
      [untyped({ logger: null }), 'option `logger` must have debug, info, warn and error methods'],
      [{ trustedProxies: ['192.0.2.1', 'proxy.example'] }, 'option `trustedProxies` must list IP addresses or CIDR ranges'],
      [untyped({ trustedProxies: '192.0.2.1' }), 'option `trustedProxies` must list IP addresses or CIDR ranges'],
    ]
    for (const [options, message] of cases) {
      it(`refuses ${JSON.stringify(options)}`, () => expectInvalid(options, message))
    }

    for (const name of BOOLEANS) {
      it(`refuses ${name} set to null`, () => {
        expectInvalid(untyped({ [name]: null }), `option \`${name}\` must be a boolean, got null`)
      })
      if (name === 'binaryMime') continue
      it(`refuses ${name} set to a string`, () => {
        expectInvalid(untyped({ [name]: 'yes' }), `option \`${name}\` must be a boolean, got yes`)
      })
    }

    // Regression (issue 3): binaryMime was combined with chunking before its boolean check.
    it('refuses binaryMime set to a string or a number', () => {
      expectInvalid(untyped({ binaryMime: 'yes' }), 'option `binaryMime` must be a boolean, got yes')
      expectInvalid(untyped({ binaryMime: 1 }), 'option `binaryMime` must be a boolean, got 1')
      expectInvalid(untyped({ binaryMime: 'yes', chunking: false }), 'option `binaryMime` must be a boolean, got yes')
    })

    // Regression (issue 3): domain and greeting were checked by regex only, so non-strings passed.
    it('refuses a domain or greeting that is not a string', () => {
      for (const domain of [null, 42, ['mx.test']]) {
        const err = resolveError(untyped({ domain }))
        expect(err, String(domain)).to.be.instanceOf(SmtpwireError)
        expect(err).to.have.property('code', 'SMTPWIRE_ERR_INVALID_OPTION')
        expect(err).to.have.property('message').that.includes('`domain`')
      }
      expect(() => resolveOptions(untyped({ greeting: 42 }))).to.throw(SmtpwireError, '`greeting`')
    })
  })

  describe('the result', () => {
    it('is frozen', () => {
      const resolved = resolveOptions({ domain: 'mx.test' })
      expect(Object.isFrozen(resolved)).to.equal(true)
      expect(() => {
        Object.assign(resolved, { domain: 'other.test' })
      }).to.throw(TypeError)
      expect(resolved.domain).to.equal('mx.test')
    })

    it('holds a frozen copy of authMechanisms', () => {
      const mechanisms: Array<'PLAIN' | 'LOGIN'> = ['PLAIN']
      const resolved = resolveOptions({ authMechanisms: mechanisms })
      mechanisms.push('LOGIN')
      expect(resolved.authMechanisms).to.deep.equal(['PLAIN'])
      expect(Object.isFrozen(resolved.authMechanisms)).to.equal(true)
      expect(resolveOptions({ authMechanisms: [] }).authMechanisms).to.deep.equal([])
      expect(resolveOptions().authMechanisms).to.equal(null)
    })

    it('is a new object that leaves the options given alone', () => {
      const options: SmtpOptions = { domain: 'mx.test', chunking: false }
      const resolved = resolveOptions(options)
      expect(resolved).to.not.equal(options)
      expect(options).to.deep.equal({ domain: 'mx.test', chunking: false })
      expect(Object.isFrozen(options)).to.equal(false)
    })

    it('has the options there are and no others, in one key order', () => {
      const resolved = resolveOptions({ greeting: 'hi', domain: 'mx.test', notAnOption: 1 } as SmtpOptions)
      expect(resolved).to.not.have.property('notAnOption')
      expect(Object.keys(resolved)).to.deep.equal(Object.keys(resolveOptions()))
      expect(resolved.greeting).to.equal('hi')
    })

    it('is returned as it is when resolved again (a server resolves once, not per connection)', () => {
      const resolved = resolveOptions({ domain: 'mx.test', lmtp: true })
      expect(resolveOptions(resolved)).to.equal(resolved)
      // A copy is not marked: it is checked and resolved like any options.
      const copy = { ...resolved, lmtp: false }
      expect(resolveOptions(copy)).to.not.equal(copy)
      expect(resolveOptions(copy).lmtp).to.equal(false)
      expect(Object.keys(resolved)).to.deep.equal(Object.keys(resolveOptions()))
    })

    it('has one V8 shape however many are made, so a new SmtpProtocol with its own options does not deoptimise the hot paths', () => {
      // Made by spreads, results 9 to 13 each got a map of their own on Node 20 (code optimised for
      // earlier sessions' options deoptimised at each); made by Object.assign, every one was a
      // dictionary (no map to share) on Node 22 and 24.
      const script = [
        `const { resolveOptions } = await import(${JSON.stringify(new URL('../lib/options.js', import.meta.url).href)})`,
        'const first = resolveOptions({ domain: "mx.test", chunkSize: 1024 })',
        'let same = 0',
        'for (let i = 0; i < 40; i++) if (%HaveSameMap(first, resolveOptions({ domain: "mx.test", chunkSize: 1024 + i }))) same++',
        'process.stdout.write(String(same))',
      ].join('\n')
      // Not under the coverage run's NODE_V8_COVERAGE (with it V8 keeps these objects in dictionary
      // mode); Node passes it on to children unless the env given has the key.
      const env = { ...process.env, NODE_V8_COVERAGE: '' }
      const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'latin1', env })
      expect(out).to.equal('40')
    })
  })
})
