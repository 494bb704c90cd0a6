import { createHmac } from 'node:crypto'
import { expect } from 'chai'
import { cramMd5, cramMd5Exchange } from '../../lib/sasl/cram-md5.js'
import type { SaslCredentials, SaslStep } from '../../lib/sasl/index.js'

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64')
const fromB64 = (text: string): string => Buffer.from(text, 'base64').toString('utf8')

// RFC 2195 §2's example exchange.
const RFC_CHALLENGE = '<1896.697170952@postoffice.reston.mci.net>'
const RFC_SECRET = 'tanstaaftanstaaf'
const RFC_DIGEST = 'b913a602c7eda7a495b4e6e7334d3890'

/** The credentials of a step, or a failed expectation. */
function credentialsOf(step: SaslStep): SaslCredentials {
  if (step.kind !== 'credentials') throw new Error(`expected credentials, got ${JSON.stringify(step)}`)
  return step.credentials
}

const hmac = (secret: string, challenge: string): string =>
  createHmac('md5', secret).update(challenge).digest('hex')

describe('sasl/cram-md5', () => {
  it('sends the challenge in base64 and reads the RFC 2195 example response', () => {
    const exchange = cramMd5Exchange(RFC_CHALLENGE)
    const challenge = 'PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+' // RFC 2195 §2's challenge line
    expect(exchange.start(null)).to.deep.equal({ kind: 'challenge', challenge })
    const credentials = credentialsOf(exchange.respond(b64(`tim ${RFC_DIGEST}`)))
    expect(credentials).to.include({ mechanism: 'CRAM-MD5', username: 'tim', challenge: RFC_CHALLENGE })
    expect(credentials).to.include({ digest: RFC_DIGEST })
    expect(credentials.mechanism === 'CRAM-MD5' && credentials.verify(RFC_SECRET)).to.equal(true)
  })

  it('verifies false against a wrong secret', () => {
    const exchange = cramMd5Exchange(RFC_CHALLENGE)
    exchange.start(null)
    const credentials = credentialsOf(exchange.respond(b64(`tim ${RFC_DIGEST}`)))
    expect(credentials.mechanism === 'CRAM-MD5' && credentials.verify('tanstaaftanstaag')).to.equal(false)
    expect(credentials.mechanism === 'CRAM-MD5' && credentials.verify('')).to.equal(false)
  })

  it('verifies false when the digest was made for another challenge', () => {
    const exchange = cramMd5Exchange('<1897.697170952@postoffice.reston.mci.net>')
    exchange.start(null)
    const credentials = credentialsOf(exchange.respond(b64(`tim ${RFC_DIGEST}`)))
    expect(credentials.mechanism === 'CRAM-MD5' && credentials.verify(RFC_SECRET)).to.equal(false)
  })

  it('verifies a UTF-8 secret', () => {
    const exchange = cramMd5Exchange(RFC_CHALLENGE)
    exchange.start(null)
    const credentials = credentialsOf(exchange.respond(b64(`jürgen ${hmac('gehéim', RFC_CHALLENGE)}`)))
    expect(credentials.username).to.equal('jürgen')
    expect(credentials.mechanism === 'CRAM-MD5' && credentials.verify('gehéim')).to.equal(true)
  })

  it('splits at the last space, so a username may hold spaces', () => {
    const exchange = cramMd5Exchange(RFC_CHALLENGE)
    exchange.start(null)
    expect(credentialsOf(exchange.respond(b64(`tim smith ${RFC_DIGEST}`))).username).to.equal('tim smith')
  })

  it('makes a unique challenge with the server name for each exchange', () => {
    const first = cramMd5.exchange('postoffice.example.net').start(null)
    const second = cramMd5.exchange('postoffice.example.net').start(null)
    if (first.kind !== 'challenge' || second.kind !== 'challenge') throw new Error('expected challenges')
    expect(fromB64(first.challenge)).to.match(/^<\d+\.\d+@postoffice\.example\.net>$/)
    expect(fromB64(second.challenge)).to.match(/^<\d+\.\d+@postoffice\.example\.net>$/)
    expect(first.challenge).to.not.equal(second.challenge)
    expect(b64(fromB64(first.challenge))).to.equal(first.challenge)
  })

  it('verifies against the challenge it made', () => {
    const exchange = cramMd5.exchange('mx.example')
    const step = exchange.start(null)
    if (step.kind !== 'challenge') throw new Error('expected a challenge')
    const challenge = fromB64(step.challenge)
    const credentials = credentialsOf(exchange.respond(b64(`tim ${hmac('secret', challenge)}`)))
    expect(credentials).to.include({ challenge })
    expect(credentials.mechanism === 'CRAM-MD5' && credentials.verify('secret')).to.equal(true)
  })

  it('refuses an initial response', () => {
    const refused = { kind: 'fail', reply: 'syntaxError' }
    expect(cramMd5Exchange(RFC_CHALLENGE).start(b64(`tim ${RFC_DIGEST}`))).to.deep.equal(refused)
    expect(cramMd5Exchange(RFC_CHALLENGE).start('=')).to.deep.equal(refused)
    expect(cramMd5Exchange(RFC_CHALLENGE).start('not base64!')).to.deep.equal(refused)
  })

  const malformed: Array<[name: string, response: string]> = [
    ['an empty response', ''],
    ['a digest without a username', ` ${RFC_DIGEST}`],
    ['a username alone', 'tim'],
    ['an upper-case digest', `tim ${RFC_DIGEST.toUpperCase()}`],
    ['a short digest', `tim ${RFC_DIGEST.slice(1)}`],
    ['a long digest', `tim ${RFC_DIGEST}0`],
    ['a non-hex digest', `tim ${RFC_DIGEST.slice(1)}g`],
    ['a tab instead of a space', `tim\t${RFC_DIGEST}`],
    ['a trailing space', `tim ${RFC_DIGEST} `],
  ]
  for (const [name, response] of malformed) {
    it(`refuses ${name} with syntaxError`, () => {
      const exchange = cramMd5Exchange(RFC_CHALLENGE)
      exchange.start(null)
      expect(exchange.respond(b64(response))).to.deep.equal({ kind: 'fail', reply: 'syntaxError' })
    })
  }

  it('refuses bad base64 in the response', () => {
    const exchange = cramMd5Exchange(RFC_CHALLENGE)
    exchange.start(null)
    expect(exchange.respond(`${b64(`tim ${RFC_DIGEST}`)}=`)).to.deep.equal({ kind: 'fail', reply: 'badBase64' })
  })

  it('cancels on a response line of *', () => {
    const exchange = cramMd5Exchange(RFC_CHALLENGE)
    exchange.start(null)
    expect(exchange.respond('*')).to.deep.equal({ kind: 'fail', reply: 'authCancelled' })
  })

  it('throws when driven out of order', () => {
    expect(() => cramMd5Exchange(RFC_CHALLENGE).respond(b64(`tim ${RFC_DIGEST}`))).to.throw(/not waiting/)
    const twice = cramMd5Exchange(RFC_CHALLENGE)
    twice.start(null)
    expect(() => twice.start(null)).to.throw(/already started/)
    const refused = cramMd5Exchange(RFC_CHALLENGE)
    refused.start('=')
    expect(() => refused.respond(b64(`tim ${RFC_DIGEST}`))).to.throw(/not waiting/)
  })

  it('is not a plaintext mechanism', () => {
    expect(cramMd5.name).to.equal('CRAM-MD5')
    expect(cramMd5.plaintext).to.equal(false)
  })
})
