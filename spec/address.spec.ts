import { expect } from 'chai'
import {
  decodeUnicodeEscapes,
  decodeXtext,
  isAddressLiteral,
  isDomainOrLiteral,
  isIPv4,
  isIPv6,
  readPath,
  type Mailbox,
} from '../lib/address.js'

/** readPath()'s answer as one value to compare: the mailbox and where the path ended, or why not. */
function parsePath(s: string, at: number, allowNull: boolean, allowPostmaster = false): object {
  const cursor = { end: 0 }
  const read = readPath(s, at, allowNull, allowPostmaster, cursor)
  return typeof read === 'string' ? { ok: false, reason: read } : { ok: true, mailbox: read, end: cursor.end }
}

/** The mailbox readPath gives: `address` as sent, the unquoted local part, the domain as sent. */
function box(address: string, localPart: string, domain: string, isUtf8 = false): Mailbox {
  return { address, localPart, domain, isUtf8 }
}

/** A plain `local@domain` mailbox. */
function plain(localPart: string, domain: string, isUtf8 = false): Mailbox {
  return box(`${localPart}@${domain}`, localPart, domain, isUtf8)
}

const SPECIALS = "!#$%&'*+-/=?^_`{|}~"

describe('readPath', () => {
  describe('valid paths', () => {
    const cases: Array<[name: string, mailbox: Mailbox]> = [
      ['a dot-string', plain('user.name+tag', 'example.org')],
      ['every atext special', plain(`a${SPECIALS}z`, 'x.test')],
      ['a single-label domain', plain('a', 'localhost')],
      ['hyphens and digits inside labels', plain('a', 'mail-1.ex--ample.123.test')],
      ['a quoted local part with a space', box('"a b"@x.test', 'a b', 'x.test')],
      ['a quoted local part with an escaped quote', box('"a\\"b"@x.test', 'a"b', 'x.test')],
      ['a quoted local part with an escaped backslash', box('"a\\\\b"@x.test', 'a\\b', 'x.test')],
      ['a quoted local part with dots anywhere', box('".a..b."@x.test', '.a..b.', 'x.test')],
      ['a quoted local part with @ and brackets', box('"a@<b>"@x.test', 'a@<b>', 'x.test')],
      ['a UTF-8 local part', plain('jörg', 'example.org', true)],
      ['a UTF-8 domain', plain('user', 'bücher.example', true)],
      ['CJK local part and domain', plain('用户', '例子.广告', true)],
      ['a character outside the BMP', plain('😀', 'x.test', true)],
      ['a quoted UTF-8 local part', box('"jörg m"@x.test', 'jörg m', 'x.test', true)],
      ['an IPv4 literal', plain('a', '[192.0.2.1]')],
      ['a full IPv6 literal', plain('a', '[IPv6:2001:db8:0:0:0:0:0:1]')],
      ['the IPv6 unspecified address ::', plain('a', '[IPv6:::]')],
      ['an IPv6 literal starting with ::', plain('a', '[IPv6:::1]')],
      ['an IPv6 literal ending with ::', plain('a', '[IPv6:2001:db8::]')],
      ['an IPv6 literal with :: inside', plain('a', '[IPv6:2001:db8::1]')],
      ['an IPv6 literal with an IPv4 tail after ::', plain('a', '[IPv6:::ffff:192.0.2.1]')],
      ['an IPv6 literal with an IPv4 tail and six groups', plain('a', '[IPv6:1:2:3:4:5:6:192.0.2.1]')],
      ['a lower-case IPv6 tag', plain('a', '[ipv6:::1]')],
      ['a general address literal', plain('a', '[x-tag:some!content]')],
    ]
    for (const [name, mailbox] of cases) {
      it(`reads ${name}`, () => {
        const path = `<${mailbox.address}>`
        expect(parsePath(path, 0, false)).to.deep.equal({ ok: true, mailbox, end: path.length })
      })
    }

    it('ignores a source route with one hop', () => {
      const path = '<@relay.test:u@d.test>'
      expect(parsePath(path, 0, false)).to.deep.equal({ ok: true, mailbox: plain('u', 'd.test'), end: path.length })
    })

    it('ignores a source route with several hops', () => {
      const path = '<@a.test,@b.test,@mx-3.c.test:u@c.test>'
      expect(parsePath(path, 0, false)).to.deep.equal({ ok: true, mailbox: plain('u', 'c.test'), end: path.length })
    })

    it('starts at the given offset and ends after the closing bracket', () => {
      const line = 'FROM:<a@b.test> SIZE=1'
      expect(parsePath(line, 5, false)).to.deep.equal({ ok: true, mailbox: plain('a', 'b.test'), end: 15 })
    })

    it('stops at the first closing bracket and leaves a stray one to the caller', () => {
      expect(parsePath('<a@b.test>>', 0, false)).to.deep.equal({ ok: true, mailbox: plain('a', 'b.test'), end: 10 })
    })
  })

  describe('the null path', () => {
    it('reads <> when allowed', () => {
      expect(parsePath('<>', 0, true)).to.deep.equal({ ok: true, mailbox: null, end: 2 })
      expect(parsePath('FROM:<> X', 5, true)).to.deep.equal({ ok: true, mailbox: null, end: 7 })
    })
    it("refuses <> with reason 'null-path' when not allowed", () => {
      expect(parsePath('<>', 0, false)).to.deep.equal({ ok: false, reason: 'null-path' })
      expect(parsePath('<>', 0, false, true)).to.deep.equal({ ok: false, reason: 'null-path' })
    })
  })

  describe('<Postmaster>', () => {
    for (const name of ['Postmaster', 'postmaster', 'POSTMASTER', 'PostMaster']) {
      it(`reads <${name}> without a domain when allowed, keeping its case`, () => {
        const mailbox = box(name, name, '')
        expect(parsePath(`<${name}>`, 0, false, true)).to.deep.equal({ ok: true, mailbox, end: 12 })
      })
    }
    it('refuses <Postmaster> when not allowed', () => {
      expect(parsePath('<Postmaster>', 0, false)).to.deep.equal({ ok: false, reason: 'syntax' })
      expect(parsePath('<Postmaster>', 0, true, false)).to.deep.equal({ ok: false, reason: 'syntax' })
    })
    it('reads <Postmaster@domain> as an ordinary mailbox', () => {
      const mailbox = plain('Postmaster', 'x.test')
      expect(parsePath('<Postmaster@x.test>', 0, false, true)).to.deep.equal({ ok: true, mailbox, end: 19 })
    })
    it('refuses a longer word that starts with postmaster', () => {
      expect(parsePath('<Postmasters>', 0, false, true)).to.deep.equal({ ok: false, reason: 'syntax' })
    })
  })

  describe('invalid paths', () => {
    const cases: Array<[name: string, path: string]> = [
      ['an empty string', ''],
      ['a lone bracket', '<'],
      ['a path without brackets', 'a@b.test'],
      ['a path without the closing bracket', '<a@b.test'],
      ['a path without the opening bracket', 'a@b.test>'],
      ['doubled brackets', '<<a@b.test>>'],
      ['an empty local part', '<@b.test>'],
      ['a local part without a domain', '<a>'],
      ['an @ without a domain', '<a@>'],
      ['a leading dot in the local part', '<.a@b.test>'],
      ['a trailing dot in the local part', '<a.@b.test>'],
      ['two dots in the local part', '<a..b@b.test>'],
      ['a space in the local part', '<a b@b.test>'],
      ['a NUL in the local part', '<a\0@b.test>'],
      ['two @ signs', '<a@b@c.test>'],
      ['a label starting with a hyphen', '<a@-a.b>'],
      ['a label ending with a hyphen', '<a@a-.b>'],
      ['an empty label', '<a@a..b>'],
      ['a trailing dot in the domain', '<a@a.b.>'],
      ['a leading dot in the domain', '<a@.a.b>'],
      ['an underscore in the domain', '<a@a_b.test>'],
      ['an IPv4 literal with a part over 255', '<a@[300.1.1.1]>'],
      ['an IPv4 literal with three parts', '<a@[1.2.3]>'],
      ['an IPv6 literal with two ::', '<a@[IPv6:1::2::3]>'],
      ['an IPv6 literal with nine groups', '<a@[IPv6:1:2:3:4:5:6:7:8:9]>'],
      ['an IPv6 literal with seven groups and no ::', '<a@[IPv6:1:2:3:4:5:6:7]>'],
      ['an IPv6 group of five digits', '<a@[IPv6:12345::1]>'],
      ['an IPv6 literal with a bad IPv4 tail', '<a@[IPv6:::ffff:256.1.1.1]>'],
      ['a general literal with no content', '<a@[tag:]>'],
      ['a general literal with a bad tag', '<a@[-tag:x]>'],
      ['a literal without a tag or IPv4', '<a@[abc]>'],
      ['a bracket inside a literal', '<a@[a[b]>'],
      ['an unclosed literal', '<a@[192.0.2.1>'],
      ['an unterminated quoted string', '<"a@b.test>'],
      ['a quote in the middle of a quoted string', '<"a"b"@b.test>'],
      ['a control character in a quoted string', '<"a\x01"@b.test>'],
      ['text after a quoted string', '<"a"b@b.test>'],
      ['a source route without a mailbox', '<@a.test:>'],
      ['a source route hop without @', '<@a.test,b.test:u@c.test>'],
      ['a source route without the colon', '<@a.test u@c.test>'],
      ['an address literal in a source route', '<@[192.0.2.1]:u@c.test>'],
    ]
    for (const [name, path] of cases) {
      it(`refuses ${name}`, () => {
        expect(parsePath(path, 0, true, true)).to.deep.equal({ ok: false, reason: 'syntax' })
      })
    }

    it('refuses a path that does not start at the offset', () => {
      expect(parsePath('FROM:<a@b.test>', 0, false)).to.deep.equal({ ok: false, reason: 'syntax' })
      expect(parsePath('FROM: <a@b.test>', 5, false)).to.deep.equal({ ok: false, reason: 'syntax' })
    })
  })
})

describe('isIPv4', () => {
  const valid = ['0.0.0.0', '192.0.2.1', '255.255.255.255', '010.001.0.1']
  const invalid = [
    '',
    '256.0.0.1',
    '1.2.3',
    '1.2.3.4.5',
    '1..2.3',
    '1.2.3.',
    'a.b.c.d',
    '1234.1.1.1',
    '-1.2.3.4',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '0x1.2.3.4',
  ]
  for (const s of valid) it(`accepts ${JSON.stringify(s)}`, () => expect(isIPv4(s)).to.equal(true))
  for (const s of invalid) it(`refuses ${JSON.stringify(s)}`, () => expect(isIPv4(s)).to.equal(false))
})

describe('isIPv6', () => {
  const valid = [
    '::',
    '::1',
    '1::',
    '2001:db8::1',
    '2001:DB8:0:0:0:0:0:1',
    '1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7::',
    '::2:3:4:5:6:7:8',
    'fe80::abcd:ef01',
    '::ffff:192.0.2.1',
    '::192.0.2.1',
    '1:2:3:4:5:6:192.0.2.1',
    '1:2:3:4:5::192.0.2.1',
  ]
  const invalid = [
    '',
    ':',
    ':::',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8::',
    '::1:2:3:4:5:6:7:8',
    '1::2:3:4:5:6:7:8',
    '12345::1',
    'g::1',
    ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:',
    '1::2:',
    '1:2:3:4:5:6:7:192.0.2.1',
    '1:2:3:4:5:6::192.0.2.1',
    '::256.1.1.1',
    '::1.2.3',
    '192.0.2.1::1',
    '192.0.2.1',
  ]
  for (const s of valid) it(`accepts ${JSON.stringify(s)}`, () => expect(isIPv6(s)).to.equal(true))
  for (const s of invalid) it(`refuses ${JSON.stringify(s)}`, () => expect(isIPv6(s)).to.equal(false))

  // Regression (issue 3): a dotted quad before a trailing `::` was taken for the IPv4 tail.
  it('refuses an IPv4 part before a trailing ::', () => {
    expect(isIPv6('192.0.2.1::')).to.equal(false)
    expect(isIPv6('1:192.0.2.1::')).to.equal(false)
    expect(parsePath('<a@[IPv6:192.0.2.1::]>', 0, false)).to.deep.equal({ ok: false, reason: 'syntax' })
  })
})

describe('isAddressLiteral', () => {
  const valid = [
    '[192.0.2.1]',
    '[IPv6:2001:db8::1]',
    '[ipv6:::]',
    '[IPV6:::ffff:192.0.2.1]',
    '[x-tag:content]',
    '[X:a:b]',
    '[tag:!~^]',
  ]
  const invalid = [
    '',
    '[',
    '[]',
    '192.0.2.1',
    '[192.0.2.1',
    '192.0.2.1]',
    '[300.1.1.1]',
    '[IPv6:1::2::3]',
    '[IPv6:192.0.2.1]',
    '[:x]',
    '[tag]',
    '[tag:]',
    '[-tag:x]',
    '[tag-:x]',
    '[t_g:x]',
    '[tag:a b]',
    '[tag:a[b]',
    '[tag:a\\b]',
    '[tag:ä]',
  ]
  for (const s of valid) it(`accepts ${JSON.stringify(s)}`, () => expect(isAddressLiteral(s)).to.equal(true))
  for (const s of invalid) it(`refuses ${JSON.stringify(s)}`, () => expect(isAddressLiteral(s)).to.equal(false))
})

describe('isDomainOrLiteral', () => {
  const valid = [
    'localhost',
    'example.org',
    'a-b.c--d.test',
    'xn--bcher-kva.example',
    'bücher.example',
    '1.2.3.4',
    '[192.0.2.1]',
    '[IPv6:::1]',
  ]
  const invalid = ['', '-a.b', 'a-.b', 'a..b', 'a.b.', '.a', 'a_b', 'a b', 'a@b', '[300.1.1.1]', '[IPv6:1::2::3]']
  for (const s of valid) it(`accepts ${JSON.stringify(s)}`, () => expect(isDomainOrLiteral(s)).to.equal(true))
  for (const s of invalid) it(`refuses ${JSON.stringify(s)}`, () => expect(isDomainOrLiteral(s)).to.equal(false))
})

describe('decodeXtext', () => {
  const valid: Array<[xtext: string, decoded: string]> = [
    ['', ''],
    ['abc', 'abc'],
    ['+2B', '+'],
    ['+3D', '='],
    ['a+2Bb+3Dc', 'a+b=c'],
    ['+41+42', 'AB'],
    ['+20', ' '],
    ['!~<>', '!~<>'],
    ['joe+2Bsmith@example.org', 'joe+smith@example.org'],
    ['+00', '\0'],
    ['j+C3+B6rg', 'jörg'],
    ['+F0+9F+98+80', '😀'],
    ['+E9t+E9', 'été'],
    ['+C3', 'Ã'],
    ['a+E9+C3+B6', 'aéÃ¶'],
    ['+ED+A0+80', 'í\xa0\x80'],
  ]
  for (const [xtext, decoded] of valid) {
    it(`decodes ${JSON.stringify(xtext)} to ${JSON.stringify(decoded)}`, () => {
      expect(decodeXtext(xtext)).to.equal(decoded)
    })
  }

  it('reads the octets as UTF-8 when they are UTF-8, and as Latin-1 when any of them is not', () => {
    const utf8 = 'jörg@bücher.test'
    const encode = (bytes: Buffer): string =>
      [...bytes].map((b) => (b > 0x7e ? `+${b.toString(16).toUpperCase()}` : String.fromCharCode(b))).join('')
    expect(decodeXtext(encode(Buffer.from(utf8, 'utf8')))).to.equal(utf8)
    expect(decodeXtext(encode(Buffer.from(utf8, 'latin1')))).to.equal(utf8)
  })

  const invalid: Array<[name: string, xtext: string]> = [
    ['lower-case hex', '+2b'],
    ['a lone +', '+'],
    ['a + with one hex digit', '+2'],
    ['a + at the end', 'a+'],
    ['a + with a non-hex digit', '+G1'],
    ['a raw =', 'a=b'],
    ['a space', 'a b'],
    ['a tab', 'a\tb'],
    ['a control character', 'a\x01'],
    ['DEL', 'a\x7F'],
    ['a non-ASCII character', 'jörg'],
  ]
  for (const [name, xtext] of invalid) {
    it(`refuses ${name}`, () => expect(decodeXtext(xtext)).to.equal(null))
  }

  it('refuses every character outside 33-126 and accepts every xchar', () => {
    for (let code = 0; code < 256; code++) {
      const c = String.fromCharCode(code)
      const isXchar = code >= 33 && code <= 126 && c !== '+' && c !== '='
      expect(decodeXtext(`a${c}b`), `code ${code}`).to.equal(isXchar ? `a${c}b` : null)
    }
  })
})

describe('decodeUnicodeEscapes', () => {
  const valid: Array<[text: string, decoded: string]> = [
    ['plain@example.org', 'plain@example.org'],
    ['', ''],
    ['j\\x{F6}rg@b\\x{FC}cher.test', 'jörg@bücher.test'],
    ['\\x{fc}', 'ü'],
    ['\\x{1F600}', '😀'],
    ['\\x{10FFFF}', '\u{10FFFF}'],
    ['\\x{D7FF}\\x{E000}', '\uD7FF\uE000'],
    ['\\x{}', '\\x{}'],
    ['\\x{F6', '\\x{F6'],
    ['\\x{1234567}', '\\x{1234567}'],
    ['\\X{F6}', '\\X{F6}'],
    ['\\x{G6}', '\\x{G6}'],
  ]
  for (const [text, decoded] of valid) {
    it(`decodes ${JSON.stringify(text)} to ${JSON.stringify(decoded)}`, () => {
      expect(decodeUnicodeEscapes(text)).to.equal(decoded)
    })
  }

  const invalid: Array<[name: string, text: string]> = [
    ['a code point past U+10FFFF', '\\x{110000}'],
    ['the first surrogate', '\\x{D800}'],
    ['the last surrogate', '\\x{DFFF}'],
    ['a bad code point before a good one', 'a\\x{D800}b\\x{F6}'],
    ['a bad code point after a good one', 'a\\x{F6}b\\x{FFFFFF}'],
  ]
  for (const [name, text] of invalid) {
    it(`refuses ${name}`, () => expect(decodeUnicodeEscapes(text)).to.equal(null))
  }
})
