import { expect } from 'chai'
import {
  AUTH_LINE_LIMIT,
  capabilitiesOf,
  commandLineLimit,
  ehloKeywords,
  offeredKeywords,
  offeredMechanisms,
  paramExtensions,
  type CapabilityFacts,
} from '../lib/capabilities.js'
import { resolveOptions, type ResolvedOptions, type SmtpOptions } from '../lib/options.js'
import { formatHelloReply, formatReply, helloReply } from '../lib/replies.js'
import type { SessionInfo } from '../lib/session-info.js'
import { newSession } from '../lib/session.js'

const NO_FACTS: CapabilityFacts = { canStartTls: false, authMechanisms: [], xclient: null, xforward: null }

const DEFAULT_KEYWORDS = [
  'PIPELINING',
  'SIZE 26214400',
  '8BITMIME',
  'SMTPUTF8',
  'ENHANCEDSTATUSCODES',
  'CHUNKING',
  'BINARYMIME',
]

const ALL_OFF: SmtpOptions = {
  pipelining: false,
  size: false,
  eightBitMime: false,
  smtpUtf8: false,
  enhancedStatusCodes: false,
  chunking: false,
}

const without = (...gone: string[]): string[] => DEFAULT_KEYWORDS.filter((k) => !gone.includes(k))

describe('ehloKeywords', () => {
  it('lists the default extensions in order', () => {
    expect(ehloKeywords(resolveOptions(), NO_FACTS)).to.deep.equal(DEFAULT_KEYWORDS)
  })

  const cases: Array<[options: SmtpOptions, keywords: string[]]> = [
    [{ pipelining: false }, without('PIPELINING')],
    [{ size: false }, without('SIZE 26214400')],
    [{ size: false, maxMessageSize: 1000 }, without('SIZE 26214400')],
    [{ maxMessageSize: 0 }, DEFAULT_KEYWORDS.map((k) => (k.startsWith('SIZE') ? 'SIZE' : k))],
    [{ maxMessageSize: 1000 }, DEFAULT_KEYWORDS.map((k) => (k.startsWith('SIZE') ? 'SIZE 1000' : k))],
    [{ eightBitMime: false }, without('8BITMIME')],
    [{ smtpUtf8: false }, without('SMTPUTF8')],
    [{ enhancedStatusCodes: false }, without('ENHANCEDSTATUSCODES')],
    [{ chunking: false }, without('CHUNKING', 'BINARYMIME')],
    [{ binaryMime: false }, without('BINARYMIME')],
    [{ dsn: true }, [...DEFAULT_KEYWORDS, 'DSN']],
    [{ lmtp: true }, DEFAULT_KEYWORDS],
    [ALL_OFF, []],
  ]
  for (const [options, keywords] of cases) {
    it(`lists ${JSON.stringify(keywords)} with ${JSON.stringify(options)}`, () => {
      expect(ehloKeywords(resolveOptions(options), NO_FACTS)).to.deep.equal(keywords)
    })
  }

  const factCases: Array<[name: string, facts: Partial<CapabilityFacts>, added: string[]]> = [
    ['STARTTLS when the session can start TLS', { canStartTls: true }, ['STARTTLS']],
    ['AUTH with one mechanism', { authMechanisms: ['PLAIN'] }, ['AUTH PLAIN']],
    ['AUTH with every mechanism', { authMechanisms: ['PLAIN', 'LOGIN', 'XOAUTH2'] }, ['AUTH PLAIN LOGIN XOAUTH2']],
    ['XCLIENT with its attributes', { xclient: ['NAME', 'ADDR', 'PROTO'] }, ['XCLIENT NAME ADDR PROTO']],
    ['XFORWARD with its attributes', { xforward: ['NAME', 'ADDR'] }, ['XFORWARD NAME ADDR']],
    [
      'every fact after the extensions, in order',
      { canStartTls: true, authMechanisms: ['PLAIN'], xclient: ['ADDR'], xforward: ['HELO'] },
      ['STARTTLS', 'AUTH PLAIN', 'XCLIENT ADDR', 'XFORWARD HELO'],
    ],
  ]
  for (const [name, facts, added] of factCases) {
    it(`adds ${name}`, () => {
      expect(ehloKeywords(resolveOptions(), { ...NO_FACTS, ...facts })).to.deep.equal([...DEFAULT_KEYWORDS, ...added])
    })
  }

  it('puts DSN before the session facts', () => {
    const facts: CapabilityFacts = { ...NO_FACTS, canStartTls: true }
    expect(ehloKeywords(resolveOptions({ dsn: true }), facts)).to.deep.equal([...DEFAULT_KEYWORDS, 'DSN', 'STARTTLS'])
  })
})

describe('paramExtensions', () => {
  it('follows the default options, with AUTH as offered', () => {
    const on = { size: true, eightBitMime: true, binaryMime: true, smtpUtf8: true, dsn: false }
    expect(paramExtensions(resolveOptions(), false)).to.deep.equal({ ...on, auth: false })
    expect(paramExtensions(resolveOptions(), true)).to.deep.equal({ ...on, auth: true })
  })

  it('follows options that are switched', () => {
    const options = resolveOptions({ size: false, eightBitMime: false, smtpUtf8: false, chunking: false, dsn: true })
    expect(paramExtensions(options, false)).to.deep.equal({
      size: false,
      eightBitMime: false,
      binaryMime: false,
      smtpUtf8: false,
      dsn: true,
      auth: false,
    })
  })
})

describe('offeredMechanisms', () => {
  type Case = [options: SmtpOptions, secure: boolean, hasAuthListener: boolean, offered: string[]]
  const cases: Record<string, Case[]> = {
    'offers PLAIN and LOGIN by default, only to a listener and only over TLS': [
      [{}, true, true, ['PLAIN', 'LOGIN']],
      [{}, true, false, []],
      [{}, false, true, []],
      [{}, false, false, []],
    ],
    'offers PLAIN and LOGIN without TLS when allowInsecureAuth is set': [
      [{ allowInsecureAuth: true }, false, true, ['PLAIN', 'LOGIN']],
      [{ allowInsecureAuth: true }, false, false, []],
    ],
    'offers the configured mechanisms in their order, with or without a listener': [
      [{ authMechanisms: ['XOAUTH2', 'CRAM-MD5', 'PLAIN'] }, true, true, ['XOAUTH2', 'CRAM-MD5', 'PLAIN']],
      [{ authMechanisms: ['XOAUTH2', 'CRAM-MD5', 'PLAIN'] }, true, false, ['XOAUTH2', 'CRAM-MD5', 'PLAIN']],
      [{ authMechanisms: [] }, true, true, []],
    ],
    'offers only mechanisms that send no secret in the clear before TLS': [
      [{ authMechanisms: ['XOAUTH2', 'CRAM-MD5', 'PLAIN', 'LOGIN'] }, false, true, ['CRAM-MD5']],
      [{ authMechanisms: ['PLAIN', 'LOGIN'] }, false, true, []],
      [{ authMechanisms: ['XOAUTH2', 'CRAM-MD5'], allowInsecureAuth: true }, false, true, ['XOAUTH2', 'CRAM-MD5']],
    ],
    'offers nothing when AUTH is forbidden': [
      [{ authPolicy: 'forbidden' }, true, true, []],
      [{ authPolicy: 'forbidden', authMechanisms: ['CRAM-MD5'], allowInsecureAuth: true }, true, true, []],
    ],
    'offers the same when AUTH is required': [
      [{ authPolicy: 'required' }, true, true, ['PLAIN', 'LOGIN']],
      [{ authPolicy: 'required', authMechanisms: ['CRAM-MD5', 'LOGIN'] }, false, false, ['CRAM-MD5']],
    ],
  }
  for (const [name, table] of Object.entries(cases)) {
    it(name, () => {
      for (const [options, secure, hasAuthListener, offered] of table) {
        const context = `${JSON.stringify(options)} secure ${secure} listener ${hasAuthListener}`
        expect(offeredMechanisms(resolveOptions(options), secure, hasAuthListener), context).to.deep.equal(offered)
      }
    })
  }

  it('gives a read-only list nobody can change under the options', () => {
    const options = resolveOptions({ authMechanisms: ['CRAM-MD5'] })
    const offered = offeredMechanisms(options, true, true)
    expect(Object.isFrozen(offered)).to.equal(true)
    expect(() => (offered as string[]).push('PLAIN')).to.throw(TypeError)
    expect(offeredMechanisms(options, true, true)).to.deep.equal(['CRAM-MD5'])
  })

  it('works out the pre-TLS subset once per options, not on every call', () => {
    const options = resolveOptions({ authMechanisms: ['PLAIN', 'CRAM-MD5'] })
    const first = offeredMechanisms(options, false, true)
    expect(first).to.deep.equal(['CRAM-MD5'])
    expect(Object.isFrozen(first)).to.equal(true)
    expect(offeredMechanisms(options, false, true)).to.equal(first)
  })
})

describe('commandLineLimit', () => {
  const cases: Array<[options: SmtpOptions, authOffered: boolean, limit: number]> = [
    [{}, false, 512 + 26 + 32],
    [{}, true, 512 + 26 + 500 + 32],
    [{ dsn: true }, false, 512 + 26 + 500 + 32],
    [{ dsn: true }, true, 512 + 26 + 500 + 500 + 32],
    [{ size: false }, false, 512 + 32],
    [{ maxLineLength: 1000 }, false, 1000 + 26 + 32],
    [{ size: false, eightBitMime: false, smtpUtf8: false, chunking: false }, false, 512],
    [{ size: false, eightBitMime: false, smtpUtf8: false, chunking: false }, true, 512 + 500],
    [{ size: false, eightBitMime: true, smtpUtf8: false, chunking: false }, false, 512 + 32],
    [{ size: false, eightBitMime: false, smtpUtf8: true, chunking: false }, false, 512 + 32],
    [{ size: false, eightBitMime: false, smtpUtf8: false, chunking: true, binaryMime: true }, false, 512 + 32],
    [{ size: false, eightBitMime: false, smtpUtf8: false, chunking: true, binaryMime: false }, false, 512],
  ]
  for (const [options, authOffered, limit] of cases) {
    it(`is ${limit} with ${JSON.stringify(options)}${authOffered ? ' and AUTH' : ''}`, () => {
      expect(commandLineLimit(resolveOptions(options), authOffered)).to.equal(limit)
    })
  }

  it('allows AUTH lines of 12288 octets', () => {
    expect(AUTH_LINE_LIMIT).to.equal(12288)
  })
})

describe('offeredKeywords and formatHelloReply (the EHLO reply kept per capability state)', () => {
  const TLS = { protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', authorized: false } as unknown as SessionInfo['tls']
  const optionSets: SmtpOptions[] = [
    { domain: 'mx.test' },
    { domain: 'mx.test', ...ALL_OFF },
    { domain: 'mx.test', dsn: true, maxMessageSize: 0, trustedProxies: ['192.0.2.0/24'] },
    { domain: 'mx.test', authMechanisms: ['PLAIN', 'LOGIN', 'CRAM-MD5'], enhancedStatusCodes: false },
    { domain: 'mx.test', authMechanisms: ['PLAIN'], allowInsecureAuth: true, tlsPolicy: 'forbidden' },
    { domain: 'mx.test', authPolicy: 'forbidden', trustedProxies: ['192.0.2.7'] },
    { domain: 'mx.test', ...ALL_OFF, trustedProxies: ['192.0.2.7'] },
  ]
  const fresh = (options: ResolvedOptions, session: SessionInfo, canUpgrade: boolean, hasAuth: boolean, name: string): Buffer =>
    formatReply(helloReply(options.domain, name, ehloKeywords(options, capabilitiesOf(options, session, canUpgrade, hasAuth))), false)

  it('equals a freshly built reply in every state, and is the same kept list each time', () => {
    let states = 0
    for (const given of optionSets) {
      const options = resolveOptions(given)
      for (const tls of [null, TLS]) {
        for (const remoteAddress of ['192.0.2.7', '198.51.100.1']) {
          for (const canUpgrade of [false, true]) {
            for (const hasAuth of [false, true]) {
              const session: SessionInfo = { ...newSession({ remoteAddress }), tls }
              const keywords = offeredKeywords(options, session, canUpgrade, hasAuth)
              expect(Object.isFrozen(keywords)).to.equal(true)
              expect(offeredKeywords(options, session, canUpgrade, hasAuth)).to.equal(keywords)
              expect([...keywords]).to.deep.equal(ehloKeywords(options, capabilitiesOf(options, session, canUpgrade, hasAuth)))
              for (const name of ['client.test', '[192.0.2.1]', 'bücher.example']) {
                const kept = formatHelloReply(options.domain, name, keywords)
                expect(kept.toString('utf8')).to.equal(fresh(options, session, canUpgrade, hasAuth, name).toString('utf8'))
                // Again, from the kept keyword lines.
                expect(formatHelloReply(options.domain, name, keywords).equals(kept)).to.equal(true)
              }
              states++
            }
          }
        }
      }
    }
    expect(states).to.equal(optionSets.length * 16)
  })

  it('formats a keyword list that is not frozen, or a reply with no keywords, like formatReply', () => {
    const unfrozen = ['PIPELINING', 'SIZE']
    expect(formatHelloReply('mx.test', 'c.test', unfrozen).toString()).to.equal('250-mx.test greets c.test\r\n250-PIPELINING\r\n250 SIZE\r\n')
    expect(formatHelloReply('mx.test', 'c.test', Object.freeze([])).toString()).to.equal('250 mx.test greets c.test\r\n')
  })
})
