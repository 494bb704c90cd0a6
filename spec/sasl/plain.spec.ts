import { expect } from 'chai'
import { decodeBase64, MECHANISMS, type SaslStep } from '../../lib/sasl/index.js'
import { plain } from '../../lib/sasl/plain.js'

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64')

const credentials = (username: string, password: string, authorizationId = ''): SaslStep => ({
  kind: 'credentials',
  credentials: { mechanism: 'PLAIN', username, password, authorizationId },
})

describe('sasl/plain', () => {
  it('reads an initial response without an authorization id', () => {
    expect(plain.exchange('mx.example').start(b64('\0tim\0tanstaaf'))).to.deep.equal(credentials('tim', 'tanstaaf'))
  })

  it('reads an initial response with an authorization id', () => {
    const step = plain.exchange('mx.example').start(b64('admin\0tim\0tanstaaf'))
    expect(step).to.deep.equal(credentials('tim', 'tanstaaf', 'admin'))
  })

  it('sends an empty challenge without an initial response, then reads the message', () => {
    const exchange = plain.exchange('mx.example')
    expect(exchange.start(null)).to.deep.equal({ kind: 'challenge', challenge: '' })
    expect(exchange.respond(b64('\0tim\0tanstaaf'))).to.deep.equal(credentials('tim', 'tanstaaf'))
  })

  it('reads UTF-8 fields', () => {
    const step = plain.exchange('mx.example').start(b64('\0jürgen\0pässwörd ✓'))
    expect(step).to.deep.equal(credentials('jürgen', 'pässwörd ✓'))
  })

  it('keeps spaces and an equals sign inside the password', () => {
    expect(plain.exchange('mx.example').start(b64('\0tim\0 a=b '))).to.deep.equal(credentials('tim', ' a=b '))
  })

  it('refuses the empty initial response as a malformed message', () => {
    expect(plain.exchange('mx.example').start('=')).to.deep.equal({ kind: 'fail', reply: 'syntaxError' })
  })

  it('refuses an empty response line as a malformed message', () => {
    const exchange = plain.exchange('mx.example')
    exchange.start(null)
    expect(exchange.respond('')).to.deep.equal({ kind: 'fail', reply: 'syntaxError' })
  })

  const malformed: Array<[name: string, message: string]> = [
    ['a message with one NUL', 'tim\0tanstaaf'],
    ['a message with three NULs', '\0tim\0tans\0taaf'],
    ['a message without NULs', 'tim tanstaaf'],
    ['an empty username', 'admin\0\0tanstaaf'],
    ['an empty password', '\0tim\0'],
    ['two NULs alone', '\0\0'],
  ]
  for (const [name, message] of malformed) {
    it(`refuses ${name} with syntaxError`, () => {
      expect(plain.exchange('mx.example').start(b64(message))).to.deep.equal({ kind: 'fail', reply: 'syntaxError' })
      const exchange = plain.exchange('mx.example')
      exchange.start(null)
      expect(exchange.respond(b64(message))).to.deep.equal({ kind: 'fail', reply: 'syntaxError' })
    })
  }

  it('refuses bad base64 in the initial response', () => {
    const unpadded = b64('\0tim\0tanstaaf').replace(/=+$/, '')
    expect(plain.exchange('mx.example').start(unpadded)).to.deep.equal({ kind: 'fail', reply: 'badBase64' })
  })

  it('refuses bad base64 in the response line', () => {
    const exchange = plain.exchange('mx.example')
    exchange.start(null)
    expect(exchange.respond(`${b64('\0tim\0tanstaaf')} `)).to.deep.equal({ kind: 'fail', reply: 'badBase64' })
  })

  it('refuses a message that is not UTF-8 as bad base64', () => {
    const message = Buffer.from([0, 0x74, 0, 0xff]).toString('base64')
    expect(plain.exchange('mx.example').start(message)).to.deep.equal({ kind: 'fail', reply: 'badBase64' })
  })

  it('cancels on a response line of *', () => {
    const exchange = plain.exchange('mx.example')
    exchange.start(null)
    expect(exchange.respond('*')).to.deep.equal({ kind: 'fail', reply: 'authCancelled' })
  })

  it('takes * as the initial response for bad base64, not a cancel', () => {
    expect(plain.exchange('mx.example').start('*')).to.deep.equal({ kind: 'fail', reply: 'badBase64' })
  })

  it('throws when driven out of order', () => {
    expect(() => plain.exchange('mx.example').respond(b64('\0tim\0tanstaaf'))).to.throw(/not waiting/)
    const twice = plain.exchange('mx.example')
    twice.start(null)
    expect(() => twice.start(null)).to.throw(/already started/)
    const done = plain.exchange('mx.example')
    done.start(b64('\0tim\0tanstaaf'))
    expect(() => done.respond('')).to.throw(/not waiting/)
  })

  it('is a plaintext mechanism', () => {
    expect(plain.name).to.equal('PLAIN')
    expect(plain.plaintext).to.equal(true)
  })
})

describe('sasl/base64', () => {
  const canonical: Array<[encoded: string, text: string]> = [
    ['', ''],
    ['YQ==', 'a'],
    ['YWI=', 'ab'],
    ['YWJj', 'abc'],
    ['w6k=', 'é'],
    ['AA==', '\0'],
    ['Pj4+Pz8/', '>>>???'],
  ]
  for (const [encoded, text] of canonical) {
    it(`decodes ${JSON.stringify(encoded)}`, () => {
      expect(decodeBase64(encoded)).to.equal(text)
    })
  }

  it('keeps a leading byte order mark', () => {
    expect(decodeBase64(b64('\uFEFFtim'))).to.equal('\uFEFFtim')
  })

  const rejected: Array<[name: string, encoded: string]> = [
    ['a character outside the alphabet', 'YW*j'],
    ['a non-ASCII character', 'YWé='],
    ['a space', 'YW Jj'],
    ['a trailing line break', 'YWJj\n'],
    ['base64url characters', 'Pj4-Pz8_'],
    ['a length that is not a multiple of 4', 'YWJjZ'],
    ['missing padding', 'YQ'],
    ['padding in the middle', 'YQ==YWJj'],
    ['three padding characters', 'Y==='],
    ['padding alone', '===='],
    ['a lone =', '='],
    ['nonzero bits after the last octet (one =)', 'YWJ='],
    ['nonzero bits after the last octet (two =)', 'YR=='],
    ['octets that are not UTF-8', Buffer.from([0x61, 0xff]).toString('base64')],
    ['an overlong UTF-8 encoding', Buffer.from([0xc0, 0x80]).toString('base64')],
    ['an encoded surrogate', Buffer.from([0xed, 0xa0, 0x80]).toString('base64')],
    ['a truncated UTF-8 sequence', Buffer.from([0x61, 0xc3]).toString('base64')],
  ]
  for (const [name, encoded] of rejected) {
    it(`rejects ${name}`, () => {
      expect(decodeBase64(encoded)).to.equal(null)
    })
  }
})

describe('sasl/index', () => {
  it('registers the four built-in mechanisms under their names', () => {
    expect([...MECHANISMS.keys()]).to.deep.equal(['PLAIN', 'LOGIN', 'CRAM-MD5', 'XOAUTH2'])
    for (const [name, mechanism] of MECHANISMS) expect(mechanism.name).to.equal(name)
  })

  it('marks every mechanism but CRAM-MD5 as plaintext (a secret or token in the clear)', () => {
    const plaintext = [...MECHANISMS.values()].filter((mechanism) => mechanism.plaintext).map((m) => m.name)
    expect(plaintext).to.deep.equal(['PLAIN', 'LOGIN', 'XOAUTH2'])
  })
})
