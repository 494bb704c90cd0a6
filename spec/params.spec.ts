import { expect } from 'chai'
import { mailParams, rcptParams, type MailParams, type ParamExtensions, type RcptParams } from '../lib/params.js'
import type { RawParams } from '../lib/parser.js'
import type { ReplyKey } from '../lib/replies.js'

/** The params, or the reply that refuses them, as one value to compare. */
type Typed<T> = { ok: true; params: T } | { ok: false; reply: ReplyKey }
const typed = <T extends object>(read: T | ReplyKey): Typed<T> => (typeof read === 'string' ? { ok: false, reply: read } : { ok: true, params: read })
const parseMailParams = (raw: RawParams, ext: ParamExtensions): Typed<MailParams> => typed(mailParams(raw, ext))
const parseRcptParams = (raw: RawParams, ext: ParamExtensions): Typed<RcptParams> => typed(rcptParams(raw, ext))

const ALL_ON: ParamExtensions = {
  size: true,
  eightBitMime: true,
  binaryMime: true,
  smtpUtf8: true,
  dsn: true,
  auth: true,
}
const ALL_OFF: ParamExtensions = {
  size: false,
  eightBitMime: false,
  binaryMime: false,
  smtpUtf8: false,
  dsn: false,
  auth: false,
}

/** Raw params as the parser gives them, from `KEY=VALUE` / `KEY` words (split at the first `=`). */
function raw(...words: string[]): RawParams {
  return words.map((word) => {
    const eq = word.indexOf('=')
    return eq < 0 ? ([word, null] as const) : ([word.slice(0, eq), word.slice(eq + 1)] as const)
  })
}

const NO_MAIL_PARAMS: Omit<MailParams, 'raw'> = {
  size: null,
  body: null,
  smtpUtf8: false,
  ret: null,
  envid: null,
  auth: null,
}
const NO_RCPT_PARAMS: Omit<RcptParams, 'raw'> = { notify: null, orcpt: null }

describe('parseMailParams', () => {
  describe('with every extension on', () => {
    const cases: Array<[words: string[], typed: Partial<MailParams>]> = [
      [[], {}],
      [['SIZE=0'], { size: 0 }],
      [['SIZE=26214400'], { size: 26214400 }],
      [['SIZE=999999999999999'], { size: 999999999999999 }],
      [['BODY=7BIT'], { body: '7BIT' }],
      [['BODY=8bitmime'], { body: '8BITMIME' }],
      [['BODY=BinaryMime'], { body: 'BINARYMIME' }],
      [['SMTPUTF8'], { smtpUtf8: true }],
      [['RET=FULL'], { ret: 'FULL' }],
      [['RET=hdrs'], { ret: 'HDRS' }],
      [['ENVID=QQ+2B1'], { envid: 'QQ+1' }],
      [['ENVID=a+20b'], { envid: 'a b' }],
      [[`ENVID=${'e'.repeat(100)}`], { envid: 'e'.repeat(100) }],
      [['AUTH=<>'], { auth: '<>' }],
      [['AUTH=joe+2Bsmith@example.org'], { auth: 'joe+smith@example.org' }],
      [['AUTH=j+C3+B6rg@x.test'], { auth: 'jörg@x.test' }],
      [
        ['SIZE=42', 'BODY=8BITMIME', 'SMTPUTF8', 'RET=HDRS', 'ENVID=id1', 'AUTH=<>'],
        { size: 42, body: '8BITMIME', smtpUtf8: true, ret: 'HDRS', envid: 'id1', auth: '<>' },
      ],
    ]
    for (const [words, typed] of cases) {
      it(`types ${JSON.stringify(words.join(' '))}`, () => {
        const params = raw(...words)
        const expected = { ok: true, params: { ...NO_MAIL_PARAMS, ...typed, raw: params } }
        expect(parseMailParams(params, ALL_ON)).to.deep.equal(expected)
      })
    }

    it('keeps the raw params as sent, values untouched', () => {
      const params = raw('BODY=8bitmime', 'ENVID=a+2Bb')
      const result = parseMailParams(params, ALL_ON)
      expect(result.ok && result.params.raw).to.deep.equal([['BODY', '8bitmime'], ['ENVID', 'a+2Bb']])
    })
  })

  describe('with an extension off', () => {
    const cases: Array<[off: Partial<ParamExtensions>, word: string]> = [
      [{ size: false }, 'SIZE=1'],
      [{ eightBitMime: false, binaryMime: false }, 'BODY=7BIT'],
      [{ eightBitMime: false, binaryMime: false }, 'BODY=8BITMIME'],
      [{ smtpUtf8: false }, 'SMTPUTF8'],
      [{ dsn: false }, 'RET=FULL'],
      [{ dsn: false }, 'ENVID=x'],
      [{ auth: false }, 'AUTH=<>'],
    ]
    for (const [off, word] of cases) {
      it(`refuses ${word} as unknown when ${Object.keys(off).join(' and ')} is off`, () => {
        const result = parseMailParams(raw(word), { ...ALL_ON, ...off })
        expect(result).to.deep.equal({ ok: false, reply: 'unknownParameter' })
      })
      it(`accepts ${word} when only ${Object.keys(off).join(' and ')} is on`, () => {
        const only: ParamExtensions = { ...ALL_OFF, ...Object.fromEntries(Object.keys(off).map((key) => [key, true])) }
        expect(parseMailParams(raw(word), only).ok).to.equal(true)
      })
    }

    it('takes BODY=7BIT and BINARYMIME but not 8BITMIME with only BINARYMIME on', () => {
      const ext = { ...ALL_ON, eightBitMime: false }
      expect(parseMailParams(raw('BODY=7BIT'), ext)).to.deep.include({ ok: true })
      expect(parseMailParams(raw('BODY=BINARYMIME'), ext)).to.deep.include({ ok: true })
      expect(parseMailParams(raw('BODY=8BITMIME'), ext)).to.deep.equal({ ok: false, reply: 'badParameterValue' })
    })

    it('refuses BODY=BINARYMIME as a bad value without BINARYMIME', () => {
      const ext = { ...ALL_ON, binaryMime: false }
      expect(parseMailParams(raw('BODY=BINARYMIME'), ext)).to.deep.equal({ ok: false, reply: 'badParameterValue' })
      expect(parseMailParams(raw('BODY=8BITMIME'), ext)).to.deep.include({ ok: true })
    })

    it('refuses unknown keywords with every extension on', () => {
      for (const word of ['FOO=1', 'X-FLAG', 'NOTIFY=NEVER', 'ORCPT=rfc822;a@b', 'size=1']) {
        expect(parseMailParams(raw(word), ALL_ON), word).to.deep.equal({ ok: false, reply: 'unknownParameter' })
      }
    })
  })

  describe('refusals', () => {
    const cases: Array<[words: string[], reply: ReplyKey]> = [
      [['SIZE=1', 'SIZE=2'], 'duplicateParameter'],
      [['SIZE=1', 'SIZE=1'], 'duplicateParameter'],
      [['SMTPUTF8', 'BODY=7BIT', 'SMTPUTF8'], 'duplicateParameter'],
      [['FOO', 'FOO'], 'duplicateParameter'],
      [['SIZE'], 'badParameterValue'],
      [['SIZE=abc'], 'badParameterValue'],
      [['SIZE=-1'], 'badParameterValue'],
      [['SIZE=1e3'], 'badParameterValue'],
      [['SIZE=1234567890123456'], 'badParameterValue'],
      [['BODY'], 'badParameterValue'],
      [['BODY=FOO'], 'badParameterValue'],
      [['BODY=8BIT'], 'badParameterValue'],
      [['SMTPUTF8=x'], 'badParameterValue'],
      [['SMTPUTF8='], 'badParameterValue'],
      [['RET'], 'badParameterValue'],
      [['RET=X'], 'badParameterValue'],
      [['RET=FULLY'], 'badParameterValue'],
      [['ENVID'], 'badParameterValue'],
      [['ENVID='], 'badParameterValue'],
      [[`ENVID=${'e'.repeat(101)}`], 'badParameterValue'],
      [['ENVID=+C3+A9'], 'badParameterValue'],
      [['ENVID=+E9'], 'badParameterValue'],
      [['ENVID=a+00b'], 'badParameterValue'],
      [['ENVID=a+7F'], 'badParameterValue'],
      [['ENVID=a+0D+0Ab'], 'badParameterValue'],
      [['ENVID=a+2b'], 'badParameterValue'],
      [['AUTH'], 'badParameterValue'],
      [['AUTH=a+2b'], 'badParameterValue'],
      [['AUTH=a+'], 'badParameterValue'],
      [['AUTH=a=b'], 'badParameterValue'],
      [['FOO=1', 'SIZE=x'], 'unknownParameter'],
      [['SIZE=x', 'FOO=1'], 'badParameterValue'],
    ]
    for (const [words, reply] of cases) {
      it(`refuses ${JSON.stringify(words.join(' '))} with ${reply}`, () => {
        expect(parseMailParams(raw(...words), ALL_ON)).to.deep.equal({ ok: false, reply })
      })
    }

    it('refuses a duplicate before looking at whether the extension is on', () => {
      const ext = { ...ALL_ON, size: false }
      expect(parseMailParams(raw('SIZE=1', 'SIZE=2'), ext)).to.deep.equal({ ok: false, reply: 'duplicateParameter' })
    })
  })
})

describe('parseRcptParams', () => {
  describe('with DSN on', () => {
    const cases: Array<[words: string[], typed: Partial<RcptParams>]> = [
      [[], {}],
      [['NOTIFY=NEVER'], { notify: ['NEVER'] }],
      [['NOTIFY=never'], { notify: ['NEVER'] }],
      [['NOTIFY=success'], { notify: ['SUCCESS'] }],
      [['NOTIFY=SUCCESS,FAILURE,DELAY'], { notify: ['SUCCESS', 'FAILURE', 'DELAY'] }],
      [['NOTIFY=delay,Success'], { notify: ['DELAY', 'SUCCESS'] }],
      [['ORCPT=rfc822;joe+2Bsmith@example.org'], { orcpt: { type: 'rfc822', address: 'joe+smith@example.org' } }],
      [['ORCPT=RFC822;a@b.test'], { orcpt: { type: 'RFC822', address: 'a@b.test' } }],
      [['ORCPT=x-type;a;b'], { orcpt: { type: 'x-type', address: 'a;b' } }],
      [['ORCPT=rfc822;j+C3+B6rg@d.test'], { orcpt: { type: 'rfc822', address: 'jörg@d.test' } }],
      [['ORCPT=rfc822;j\\x{F6}rg@d.test'], { orcpt: { type: 'rfc822', address: 'j\\x{F6}rg@d.test' } }],
      [['ORCPT=utf-8;j\\x{F6}rg@b\\x{FC}cher.test'], { orcpt: { type: 'utf-8', address: 'jörg@bücher.test' } }],
      [['ORCPT=UTF-8;\\x{1F600}@x.test'], { orcpt: { type: 'UTF-8', address: '😀@x.test' } }],
      [['ORCPT=utf-8;j+C3+B6rg@d.test'], { orcpt: { type: 'utf-8', address: 'jörg@d.test' } }],
      [
        ['NOTIFY=FAILURE', 'ORCPT=rfc822;c@d.test'],
        { notify: ['FAILURE'], orcpt: { type: 'rfc822', address: 'c@d.test' } },
      ],
    ]
    for (const [words, typed] of cases) {
      it(`types ${JSON.stringify(words.join(' '))}`, () => {
        const params = raw(...words)
        const expected = { ok: true, params: { ...NO_RCPT_PARAMS, ...typed, raw: params } }
        expect(parseRcptParams(params, ALL_ON)).to.deep.equal(expected)
      })
    }

    // Regression (issue 3): a raw UTF-8 ORCPT of type utf-8 (RFC 6533 unitext) was refused as bad xtext.
    it('reads a utf-8 ORCPT sent as raw UTF-8 (RFC 6533 utf-8-addr-unitext)', () => {
      const params = raw('ORCPT=utf-8;jörg@bücher.test')
      expect(parseRcptParams(params, ALL_ON)).to.deep.equal({
        ok: true,
        params: { notify: null, orcpt: { type: 'utf-8', address: 'jörg@bücher.test' }, raw: params },
      })
    })
  })

  describe('with DSN off', () => {
    for (const word of ['NOTIFY=NEVER', 'ORCPT=rfc822;a@b.test']) {
      it(`refuses ${word} as unknown`, () => {
        const result = parseRcptParams(raw(word), { ...ALL_ON, dsn: false })
        expect(result).to.deep.equal({ ok: false, reply: 'unknownParameter' })
      })
    }
    it('accepts no parameters', () => {
      const result = parseRcptParams([], { ...ALL_ON, dsn: false })
      expect(result).to.deep.equal({ ok: true, params: { ...NO_RCPT_PARAMS, raw: [] } })
    })
  })

  describe('refusals', () => {
    const cases: Array<[words: string[], reply: ReplyKey]> = [
      [['FOO=1'], 'unknownParameter'],
      [['X-FLAG'], 'unknownParameter'],
      [['SIZE=1'], 'unknownParameter'],
      [['SMTPUTF8'], 'unknownParameter'],
      [['NOTIFY=NEVER', 'NOTIFY=NEVER'], 'duplicateParameter'],
      [['ORCPT=rfc822;a@b', 'NOTIFY=NEVER', 'ORCPT=rfc822;c@d'], 'duplicateParameter'],
      [['NOTIFY'], 'badParameterValue'],
      [['NOTIFY='], 'badParameterValue'],
      [['NOTIFY=NEVER,SUCCESS'], 'badParameterValue'],
      [['NOTIFY=SUCCESS,NEVER'], 'badParameterValue'],
      [['NOTIFY=FOO'], 'badParameterValue'],
      [['NOTIFY=SUCCESS,FOO'], 'badParameterValue'],
      [['NOTIFY=SUCCESS,SUCCESS'], 'badParameterValue'],
      [['NOTIFY=success,SUCCESS'], 'badParameterValue'],
      [['NOTIFY=SUCCESS,'], 'badParameterValue'],
      [['ORCPT'], 'badParameterValue'],
      [['ORCPT=rfc822'], 'badParameterValue'],
      [['ORCPT=rfc822;'], 'badParameterValue'],
      [['ORCPT=;a@b.test'], 'badParameterValue'],
      [['ORCPT=-x;a@b.test'], 'badParameterValue'],
      [['ORCPT=rfc822;a+2b'], 'badParameterValue'],
      [['ORCPT=rfc822;a=b'], 'badParameterValue'],
      [['ORCPT=rfc822;a b'], 'badParameterValue'],
      [['ORCPT=utf-8;\\x{D800}@x.test'], 'badParameterValue'],
      [['ORCPT=utf-8;\\x{110000}@x.test'], 'badParameterValue'],
      [['NOTIFY=NEVER', 'FOO'], 'unknownParameter'],
      [['NOTIFY=BAD', 'FOO'], 'badParameterValue'],
    ]
    for (const [words, reply] of cases) {
      it(`refuses ${JSON.stringify(words.join(' '))} with ${reply}`, () => {
        expect(parseRcptParams(raw(...words), ALL_ON)).to.deep.equal({ ok: false, reply })
      })
    }
  })
})
