import { expect } from 'chai'
import { SmtpError, SmtpReply, SmtpwireError } from '../lib/errors.js'
import type { EnhancedCode } from '../lib/replies.js'

/** What `fn` threw; fails when it threw nothing. */
function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

function expectInvalidReply(fn: () => unknown, message: string): void {
  const err = thrown(fn)
  expect(err).to.be.instanceOf(SmtpwireError)
  expect(err).to.include({ name: 'SmtpwireError', code: 'SMTPWIRE_ERR_INVALID_REPLY', message })
}

/** An enhanced code the type would not allow, to reach the runtime check. */
const unchecked = (code: string): EnhancedCode => code as EnhancedCode

describe('SmtpwireError', () => {
  it('carries a code, a message and its name', () => {
    const err = new SmtpwireError('SMTPWIRE_ERR_TLS', 'handshake failed')
    expect(err).to.be.instanceOf(Error)
    expect(err).to.include({ name: 'SmtpwireError', code: 'SMTPWIRE_ERR_TLS', message: 'handshake failed' })
    expect(err.cause).to.equal(undefined)
  })

  it('keeps the cause', () => {
    const cause = new Error('inner')
    expect(new SmtpwireError('SMTPWIRE_ERR_INTERNAL', 'listener failed', { cause }).cause).to.equal(cause)
  })
})

describe('SmtpReply', () => {
  it('keeps code, text and enhanced code', () => {
    const reply = new SmtpReply(250, 'Queued as 4F2A', '2.0.0')
    expect({ ...reply }).to.deep.equal({ code: 250, text: 'Queued as 4F2A', enhanced: '2.0.0' })
    expect(reply).to.not.be.instanceOf(Error)
  })

  it('keeps several lines and leaves the enhanced code undefined when not given', () => {
    expect({ ...new SmtpReply(250, ['a', 'b']) }).to.deep.equal({ code: 250, text: ['a', 'b'], enhanced: undefined })
  })

  for (const code of [200, 354, 421, 599]) {
    it(`accepts code ${code}`, () => expect(new SmtpReply(code, 'x').code).to.equal(code))
  }

  for (const code of [199, 600, 0, -250, 250.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    it(`refuses code ${code}`, () => {
      expectInvalidReply(() => new SmtpReply(code, 'x'), `reply code must be an integer from 200 to 599, got ${code}`)
    })
  }

  const enhancedCases: Array<[code: number, enhanced: string]> = [
    [250, '5.0.0'],
    [550, '2.0.0'],
    [354, '2.0.0'],
    [354, '3.0.0'],
    [250, '2.0'],
    [250, '2.0.0.0'],
    [250, '2.1000.0'],
    [250, '2.0.1000'],
    [250, ' 2.0.0'],
    [250, '2.0.0 '],
    [250, '2.a.0'],
    [250, ''],
  ]
  for (const [code, enhanced] of enhancedCases) {
    it(`refuses enhanced code ${JSON.stringify(enhanced)} with ${code}`, () => {
      const message = `enhanced code ${enhanced} does not fit reply code ${code}`
      expectInvalidReply(() => new SmtpReply(code, 'x', unchecked(enhanced)), message)
    })
  }

  it('accepts enhanced codes with one to three digits per part', () => {
    expect(new SmtpReply(250, 'x', '2.999.999').enhanced).to.equal('2.999.999')
    expect(new SmtpReply(550, 'x', '5.7.11').enhanced).to.equal('5.7.11')
  })
})

describe('SmtpError', () => {
  it('is an Error named SmtpError with the text as message', () => {
    const err = new SmtpError(550, 'Relay access denied', '5.7.1')
    expect(err).to.be.instanceOf(Error)
    const text = 'Relay access denied'
    expect(err).to.include({ name: 'SmtpError', message: text, code: 550, text, enhanced: '5.7.1' })
    expect(err.stack).to.be.a('string')
  })

  it('joins several lines with spaces for the message', () => {
    const err = new SmtpError(451, ['Try again', 'later'])
    expect(err.message).to.equal('Try again later')
    expect(err.text).to.deep.equal(['Try again', 'later'])
    expect(err.enhanced).to.equal(undefined)
  })

  for (const code of [400, 421, 599]) {
    it(`accepts code ${code}`, () => expect(new SmtpError(code, 'x').code).to.equal(code))
  }

  for (const code of [250, 354, 399, 600, 450.5, Number.NaN]) {
    it(`refuses code ${code}`, () => {
      expectInvalidReply(() => new SmtpError(code, 'x'), `reply code must be an integer from 400 to 599, got ${code}`)
    })
  }

  for (const [code, enhanced] of [[550, '4.0.0'], [450, '5.0.0'], [550, '5.0']] as const) {
    it(`refuses enhanced code ${enhanced} with ${code}`, () => {
      const message = `enhanced code ${enhanced} does not fit reply code ${code}`
      expectInvalidReply(() => new SmtpError(code, 'x', unchecked(enhanced)), message)
    })
  }
})
