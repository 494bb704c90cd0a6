import { expect } from 'chai'
import type { SaslStep } from '../../lib/sasl/index.js'
import { xoauth2 } from '../../lib/sasl/xoauth2.js'

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64')

/** A client message in Google's format. */
const message = (user: string, auth: string): string => b64(`user=${user}\x01auth=${auth}\x01\x01`)

const credentials = (username: string, token: string): SaslStep => ({
  kind: 'credentials',
  credentials: { mechanism: 'XOAUTH2', username, token },
})

const SYNTAX_ERROR: SaslStep = { kind: 'fail', reply: 'syntaxError' }

describe('sasl/xoauth2', () => {
  it('reads an initial response', () => {
    const token = 'ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg'
    const step = xoauth2.exchange('mx.example').start(message('someuser@example.com', `Bearer ${token}`))
    expect(step).to.deep.equal(credentials('someuser@example.com', token))
  })

  it('sends an empty challenge without an initial response, then reads the message', () => {
    const exchange = xoauth2.exchange('mx.example')
    expect(exchange.start(null)).to.deep.equal({ kind: 'challenge', challenge: '' })
    const step = exchange.respond(message('tim@example.com', 'Bearer abc'))
    expect(step).to.deep.equal(credentials('tim@example.com', 'abc'))
  })

  it('reads the scheme name in any case', () => {
    expect(xoauth2.exchange('mx.example').start(message('tim', 'bearer abc'))).to.deep.equal(credentials('tim', 'abc'))
    expect(xoauth2.exchange('mx.example').start(message('tim', 'BEARER abc'))).to.deep.equal(credentials('tim', 'abc'))
  })

  it('reads the pairs in any order and ignores other keys', () => {
    const text = b64('auth=Bearer abc\x01host=mx.example\x01user=tim\x01\x01')
    expect(xoauth2.exchange('mx.example').start(text)).to.deep.equal(credentials('tim', 'abc'))
  })

  it('forgives a missing terminator', () => {
    const unterminated = b64('user=tim\x01auth=Bearer abc')
    expect(xoauth2.exchange('mx.example').start(unterminated)).to.deep.equal(credentials('tim', 'abc'))
  })

  it('keeps an equals sign inside a value', () => {
    const step = xoauth2.exchange('mx.example').start(message('a=b', 'Bearer abc=='))
    expect(step).to.deep.equal(credentials('a=b', 'abc=='))
  })

  const malformed: Array<[name: string, text: string]> = [
    ['an empty message', ''],
    ['a message without user', 'auth=Bearer abc\x01\x01'],
    ['a message without auth', 'user=tim\x01\x01'],
    ['an empty user', 'user=\x01auth=Bearer abc\x01\x01'],
    ['an empty token', 'user=tim\x01auth=Bearer \x01\x01'],
    ['another auth scheme', 'user=tim\x01auth=Basic dGltOnRhbnN0YWFm\x01\x01'],
    ['a scheme without its space', 'user=tim\x01auth=Bearerabc\x01\x01'],
    ['a pair without =', 'user=tim\x01auth=Bearer abc\x01junk\x01\x01'],
    ['a pair with an empty key', 'user=tim\x01=x\x01auth=Bearer abc\x01\x01'],
    ['a repeated user', 'user=tim\x01user=eve\x01auth=Bearer abc\x01\x01'],
    ['a repeated auth', 'user=tim\x01auth=Bearer abc\x01auth=Bearer def\x01\x01'],
    ['upper-case keys', 'USER=tim\x01AUTH=Bearer abc\x01\x01'],
  ]
  for (const [name, text] of malformed) {
    it(`refuses ${name} with syntaxError`, () => {
      expect(xoauth2.exchange('mx.example').start(b64(text)), 'initial response').to.deep.equal(SYNTAX_ERROR)
      const exchange = xoauth2.exchange('mx.example')
      exchange.start(null)
      expect(exchange.respond(b64(text)), 'response line').to.deep.equal(SYNTAX_ERROR)
    })
  }

  it('refuses the empty initial response', () => {
    expect(xoauth2.exchange('mx.example').start('=')).to.deep.equal(SYNTAX_ERROR)
  })

  it('refuses bad base64 in the initial response', () => {
    const tabbed = `${message('tim', 'Bearer abc')}\t`
    expect(xoauth2.exchange('mx.example').start(tabbed)).to.deep.equal({ kind: 'fail', reply: 'badBase64' })
  })

  it('refuses bad base64 in the response line', () => {
    const exchange = xoauth2.exchange('mx.example')
    exchange.start(null)
    const urlSafe = Buffer.from('user=tim\x01auth=Bearer ~~~>>>???\x01\x01').toString('base64url')
    expect(exchange.respond(urlSafe)).to.deep.equal({ kind: 'fail', reply: 'badBase64' })
  })

  it('cancels on a response line of *', () => {
    const exchange = xoauth2.exchange('mx.example')
    exchange.start(null)
    expect(exchange.respond('*')).to.deep.equal({ kind: 'fail', reply: 'authCancelled' })
  })

  it('throws when driven out of order', () => {
    expect(() => xoauth2.exchange('mx.example').respond(message('tim', 'Bearer abc'))).to.throw(/not waiting/)
    const twice = xoauth2.exchange('mx.example')
    twice.start(null)
    expect(() => twice.start(null)).to.throw(/already started/)
    const done = xoauth2.exchange('mx.example')
    done.start(message('tim', 'Bearer abc'))
    expect(() => done.respond('')).to.throw(/not waiting/)
  })

  it('is marked plaintext: a bearer token is replayable, so it stays off unencrypted connections', () => {
    expect(xoauth2.name).to.equal('XOAUTH2')
    expect(xoauth2.plaintext).to.equal(true)
  })
})
