import { expect } from 'chai'
import { REPLIES, enhancedCodeOf, formatReply, withText, type Reply } from '../lib/replies.js'

/** Wire text from lines: each ends in CRLF. */
function wire(...lines: string[]): string {
  return lines.map((line) => `${line}\r\n`).join('')
}

describe('formatReply', () => {
  const cases: Array<[name: string, reply: Reply, withEnhanced: boolean, expected: string]> = [
    ['a catalogue reply with its enhanced code', REPLIES.ok, true, wire('250 2.0.0 OK')],
    ['a catalogue reply without enhanced codes', REPLIES.ok, false, wire('250 OK')],
    ['a one-line array', { code: 550, enhanced: '5.7.1', text: ['Denied'] }, true, wire('550 5.7.1 Denied')],
    [
      'a multi-line reply with the enhanced code on every line',
      { code: 250, enhanced: '2.0.0', text: ['mx greets you', 'PIPELINING', 'SIZE 10'] },
      true,
      wire('250-2.0.0 mx greets you', '250-2.0.0 PIPELINING', '250 2.0.0 SIZE 10'),
    ],
    [
      'a multi-line reply without enhanced codes',
      { code: 250, enhanced: '2.0.0', text: ['mx greets you', 'PIPELINING', 'SIZE 10'] },
      false,
      wire('250-mx greets you', '250-PIPELINING', '250 SIZE 10'),
    ],
    ['a 3xx catalogue reply bare', REPLIES.startData, true, wire('354 End data with <CR><LF>.<CR><LF>')],
    ['a 3xx reply that has an enhanced code bare', { code: 334, enhanced: '2.0.0', text: 'Go' }, true, wire('334 Go')],
    ['a 3xx reply without X.0.0', { code: 354, text: 'Go ahead' }, true, wire('354 Go ahead')],
    ['a reply with enhanced: null without one', { code: 250, enhanced: null, text: 'Hi' }, true, wire('250 Hi')],
    ['a 5xx reply with enhanced: undefined with 5.0.0', { code: 550, text: 'No' }, true, wire('550 5.0.0 No')],
    ['an undefined 4xx code as 4.0.0', { code: 421, enhanced: undefined, text: 'B' }, true, wire('421 4.0.0 B')],
    ['a 2xx reply with enhanced: undefined with 2.0.0', { code: 250, text: 'Queued' }, true, wire('250 2.0.0 Queued')],
    ['CRLF inside the text as a line break', { code: 550, text: 'a\r\nb' }, true, wire('550-5.0.0 a', '550 5.0.0 b')],
    ['bare CR and bare LF as line breaks', { code: 550, text: 'a\rb\nc' }, false, wire('550-a', '550-b', '550 c')],
    ['line breaks inside array items', { code: 451, text: ['a\nb', 'c'] }, false, wire('451-a', '451-b', '451 c')],
    ['an empty text as the bare code', { code: 250, text: '' }, false, wire('250')],
    ['an empty text as the code and enhanced code', { code: 250, text: '' }, true, wire('250 2.0.0')],
    ['an empty array as the bare code', { code: 250, enhanced: null, text: [] }, true, wire('250')],
    ['an empty middle line', { code: 250, enhanced: null, text: ['a', '', 'b'] }, true, wire('250-a', '250-', '250 b')],
    [
      'an empty middle line with the enhanced code',
      { code: 250, text: ['a', '', 'b'] },
      true,
      wire('250-2.0.0 a', '250-2.0.0', '250 2.0.0 b'),
    ],
    ['an empty last line', { code: 250, enhanced: null, text: ['a', ''] }, false, wire('250-a', '250')],
    ['an empty SASL challenge as 334 and a space', { code: 334, text: '' }, false, wire('334 ')],
    ['an empty SASL challenge the same with enhanced codes on', { code: 334, text: '' }, true, wire('334 ')],
    ['an empty last line of a 334 with its space', { code: 334, text: ['a', ''] }, false, wire('334-a', '334 ')],
    ['an empty 354 as the bare code', { code: 354, text: '' }, true, wire('354')],
  ]
  for (const [name, reply, withEnhanced, expected] of cases) {
    it(`writes ${name}`, () => {
      expect(formatReply(reply, withEnhanced).toString('utf8')).to.equal(expected)
    })
  }

  it('writes UTF-8 text as UTF-8 octets', () => {
    const bytes = formatReply({ code: 250, enhanced: null, text: 'Grüße' }, false)
    expect(bytes).to.deep.equal(Buffer.from('250 Grüße\r\n', 'utf8'))
  })

  it('cannot be made to send a second reply through the text', () => {
    for (const withEnhanced of [true, false]) {
      const bytes = formatReply({ code: 550, text: 'Denied\r\n250 2.0.0 OK\n250 OK\r' }, withEnhanced).toString()
      const sent = bytes.split('\r\n')
      expect(sent.pop()).to.equal('')
      for (const line of sent) expect(line).to.match(/^550(?:[- ]|$)/)
      expect(sent[sent.length - 1]).to.match(/^550(?: |$)/)
      expect(sent.slice(0, -1).every((line) => line.startsWith('550-'))).to.equal(true)
      expect(bytes.replace(/\r\n/g, '')).to.not.match(/[\r\n]/)
    }
  })

  describe('caching', () => {
    it('returns the same Buffer for a catalogue entry each time', () => {
      expect(formatReply(REPLIES.needMail, true)).to.equal(formatReply(REPLIES.needMail, true))
      expect(formatReply(REPLIES.needMail, false)).to.equal(formatReply(REPLIES.needMail, false))
    })

    it('keeps the two forms apart', () => {
      const plain = formatReply(REPLIES.nestedMail, false)
      const enhanced = formatReply(REPLIES.nestedMail, true)
      expect(plain.toString()).to.equal(wire('503 Sender already specified'))
      expect(enhanced.toString()).to.equal(wire('503 5.5.1 Sender already specified'))
      expect(formatReply(REPLIES.nestedMail, false)).to.equal(plain)
      expect(formatReply(REPLIES.nestedMail, true)).to.equal(enhanced)
    })

    it('caches any frozen reply', () => {
      const reply: Reply = Object.freeze({ code: 250, text: 'frozen' })
      expect(formatReply(reply, true)).to.equal(formatReply(reply, true))
    })

    it('formats a reply that is not frozen afresh each time', () => {
      const reply: { code: number; text: string } = { code: 250, text: 'before' }
      const first = formatReply(reply, false)
      expect(formatReply(reply, false)).to.not.equal(first)
      reply.text = 'after'
      expect(formatReply(reply, false).toString()).to.equal(wire('250 after'))
      expect(first.toString()).to.equal(wire('250 before'))
    })
  })
})

describe('enhancedCodeOf', () => {
  const cases: Array<[reply: Reply, code: string | null]> = [
    [REPLIES.recipientOk, '2.1.5'],
    [REPLIES.encryptionRequiredForAuth, '5.7.11'],
    [REPLIES.startData, null],
    [{ code: 250, enhanced: null, text: '' }, null],
    [{ code: 250, text: '' }, '2.0.0'],
    [{ code: 451, text: '' }, '4.0.0'],
    [{ code: 554, text: '' }, '5.0.0'],
    [{ code: 300, enhanced: '2.0.0', text: '' }, null],
    [{ code: 399, text: '' }, null],
    [{ code: 400, text: '' }, '4.0.0'],
  ]
  for (const [reply, code] of cases) {
    it(`is ${code} for ${reply.code} with enhanced ${String(reply.enhanced)}`, () => {
      expect(enhancedCodeOf(reply)).to.equal(code)
    })
  }
})

describe('withText', () => {
  it('keeps the code and enhanced code and changes the text', () => {
    const text = 'Sender <a@b.test> OK'
    expect(withText(REPLIES.senderOk, text)).to.deep.equal({ code: 250, enhanced: '2.1.0', text })
  })
  it('takes several lines', () => {
    expect(withText(REPLIES.startData, ['a', 'b'])).to.deep.equal({ code: 354, enhanced: null, text: ['a', 'b'] })
  })
  it('keeps an enhanced code that was left out as undefined', () => {
    expect(withText({ code: 550, text: 'x' }, 'y')).to.deep.equal({ code: 550, enhanced: undefined, text: 'y' })
  })
  it('leaves the catalogue entry alone and gives a reply formatted afresh', () => {
    const copy = withText(REPLIES.ok, 'Fine')
    expect(REPLIES.ok.text).to.equal('OK')
    expect(Object.isFrozen(copy)).to.equal(false)
    expect(formatReply(copy, true).toString()).to.equal(wire('250 2.0.0 Fine'))
  })
})

describe('REPLIES', () => {
  const entries = Object.entries(REPLIES)

  it('is frozen, and so is every entry', () => {
    expect(Object.isFrozen(REPLIES)).to.equal(true)
    for (const [key, reply] of entries) expect(Object.isFrozen(reply), key).to.equal(true)
  })

  it('gives every entry a three-digit code from 200 to 599', () => {
    for (const [key, reply] of entries) {
      expect(Number.isInteger(reply.code), key).to.equal(true)
      expect(reply.code, key).to.be.within(200, 599)
      expect(String(reply.code), key).to.match(/^\d{3}$/)
    }
  })

  it('gives every enhanced code the class digit of its reply code', () => {
    for (const [key, reply] of entries) {
      if (reply.enhanced === null) continue
      const match = /^([245])\.(\d{1,3})\.(\d{1,3})$/.exec(reply.enhanced ?? '')
      expect(match, `${key}: ${reply.enhanced}`).to.not.equal(null)
      expect(Number(match?.[1]), key).to.equal(Math.floor(reply.code / 100))
    }
  })

  it('gives no 3xx entry an enhanced code', () => {
    for (const [key, reply] of entries) {
      if (reply.code >= 300 && reply.code < 400) expect(reply.enhanced, key).to.equal(null)
    }
  })

  it('gives every entry one line of text without CR or LF', () => {
    for (const [key, reply] of entries) {
      expect(reply.text, key).to.be.a('string')
      expect(reply.text, key).to.not.match(/[\r\n]/)
      expect(reply.text, key).to.not.equal('')
    }
  })
})
