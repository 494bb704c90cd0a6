import { expect } from 'chai'
import { login } from '../../lib/sasl/login.js'
import type { SaslStep } from '../../lib/sasl/index.js'

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64')

const USERNAME: SaslStep = { kind: 'challenge', challenge: b64('Username:') }
const PASSWORD: SaslStep = { kind: 'challenge', challenge: b64('Password:') }

const credentials = (username: string, password: string): SaslStep => ({
  kind: 'credentials',
  credentials: { mechanism: 'LOGIN', username, password, authorizationId: '' },
})

describe('sasl/login', () => {
  it('asks for the username, then the password', () => {
    const exchange = login.exchange('mx.example')
    expect(exchange.start(null)).to.deep.equal({ kind: 'challenge', challenge: 'VXNlcm5hbWU6' })
    expect(exchange.respond(b64('tim'))).to.deep.equal({ kind: 'challenge', challenge: 'UGFzc3dvcmQ6' })
    expect(exchange.respond(b64('tanstaaf'))).to.deep.equal(credentials('tim', 'tanstaaf'))
  })

  it('takes the username from an initial response and skips the first challenge', () => {
    const exchange = login.exchange('mx.example')
    expect(exchange.start(b64('tim'))).to.deep.equal(PASSWORD)
    expect(exchange.respond(b64('tanstaaf'))).to.deep.equal(credentials('tim', 'tanstaaf'))
  })

  it('reads UTF-8 and spaces in both fields', () => {
    const exchange = login.exchange('mx.example')
    exchange.start(null)
    exchange.respond(b64('jürgen @ home'))
    expect(exchange.respond(b64(' pässwörd '))).to.deep.equal(credentials('jürgen @ home', ' pässwörd '))
  })

  it('refuses an empty username line', () => {
    const exchange = login.exchange('mx.example')
    exchange.start(null)
    expect(exchange.respond('')).to.deep.equal({ kind: 'fail', reply: 'syntaxError' })
  })

  it('refuses an empty initial response as an empty username', () => {
    expect(login.exchange('mx.example').start('=')).to.deep.equal({ kind: 'fail', reply: 'syntaxError' })
  })

  it('refuses an empty password', () => {
    const exchange = login.exchange('mx.example')
    expect(exchange.start(b64('tim'))).to.deep.equal(PASSWORD)
    expect(exchange.respond('')).to.deep.equal({ kind: 'fail', reply: 'syntaxError' })
  })

  it('refuses bad base64 in the initial response', () => {
    expect(login.exchange('mx.example').start('dGlt=')).to.deep.equal({ kind: 'fail', reply: 'badBase64' })
  })

  it('refuses bad base64 in the username line', () => {
    const exchange = login.exchange('mx.example')
    expect(exchange.start(null)).to.deep.equal(USERNAME)
    expect(exchange.respond('dGlt!')).to.deep.equal({ kind: 'fail', reply: 'badBase64' })
  })

  it('refuses bad base64 in the password line', () => {
    const exchange = login.exchange('mx.example')
    exchange.start(b64('tim'))
    expect(exchange.respond(b64('tanstaaf').slice(1))).to.deep.equal({ kind: 'fail', reply: 'badBase64' })
  })

  it('cancels on * in place of the username', () => {
    const exchange = login.exchange('mx.example')
    exchange.start(null)
    expect(exchange.respond('*')).to.deep.equal({ kind: 'fail', reply: 'authCancelled' })
  })

  it('cancels on * in place of the password', () => {
    const exchange = login.exchange('mx.example')
    exchange.start(null)
    exchange.respond(b64('tim'))
    expect(exchange.respond('*')).to.deep.equal({ kind: 'fail', reply: 'authCancelled' })
  })

  it('throws when driven out of order', () => {
    expect(() => login.exchange('mx.example').respond(b64('tim'))).to.throw(/not waiting/)
    const twice = login.exchange('mx.example')
    twice.start(null)
    expect(() => twice.start(b64('tim'))).to.throw(/already started/)
    const failed = login.exchange('mx.example')
    failed.start(null)
    failed.respond('*')
    expect(() => failed.respond(b64('tim'))).to.throw(/not waiting/)
    const done = login.exchange('mx.example')
    done.start(b64('tim'))
    done.respond(b64('tanstaaf'))
    expect(() => done.respond(b64('tanstaaf'))).to.throw(/not waiting/)
  })

  it('is a plaintext mechanism', () => {
    expect(login.name).to.equal('LOGIN')
    expect(login.plaintext).to.equal(true)
  })
})
