import { expect } from 'chai'
import { parseProxyHeader, PROXY_V1_MAX_LENGTH, type ProxyHeader } from '../lib/proxy-header.js'

// proxy-protocol.txt §2.2, byte by byte as the spec writes it.
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const PROXY_TCP4 = 0x21 // version 2, command PROXY
const LOCAL = 0x20 // version 2, command LOCAL

interface V2Fields {
  /** Byte 13: version (high nibble) and command (low nibble). */
  readonly versionCommand?: number
  /** Byte 14: address family (high nibble) and transport (low nibble). */
  readonly familyTransport?: number
  readonly addresses?: Buffer
  readonly tlvs?: ReadonlyArray<readonly [type: number, value: Buffer]>
  /** Bytes 15-16; by default the size of the address block and TLVs. */
  readonly length?: number
}

function tlv(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(3)
  head.writeUInt8(type, 0)
  head.writeUInt16BE(value.length, 1)
  return Buffer.concat([head, value])
}

/** A v2 header from its fields; a PROXY TCP4 header with nothing after the fixed part by default. */
function v2(fields: V2Fields = {}): Buffer {
  const { versionCommand = PROXY_TCP4, familyTransport = 0x11, addresses = Buffer.alloc(0), tlvs = [] } = fields
  const body = Buffer.concat([addresses, ...tlvs.map(([type, value]) => tlv(type, value))])
  const fixed = Buffer.alloc(4)
  fixed.writeUInt8(versionCommand, 0)
  fixed.writeUInt8(familyTransport, 1)
  fixed.writeUInt16BE(fields.length ?? body.length, 2)
  return Buffer.concat([V2_SIGNATURE, fixed, body])
}

/** An IP address block: source address, destination address, source port, destination port. */
function ipBlock(src: Buffer, dst: Buffer, srcPort: number, dstPort: number): Buffer {
  const ports = Buffer.alloc(4)
  ports.writeUInt16BE(srcPort, 0)
  ports.writeUInt16BE(dstPort, 2)
  return Buffer.concat([src, dst, ports])
}

const ipv4 = (...octets: number[]): Buffer => Buffer.from(octets)

function ipv6(...groups: number[]): Buffer {
  const bytes = Buffer.alloc(16)
  groups.forEach((group, i) => bytes.writeUInt16BE(group, 2 * i))
  return bytes
}

const TCP4_BLOCK = ipBlock(ipv4(192, 0, 2, 1), ipv4(198, 51, 100, 2), 56324, 25)
const TCP6_BLOCK = ipBlock(ipv6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), ipv6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2), 56324, 25)

const v1 = (text: string): Buffer => Buffer.from(text, 'latin1')

function header(fields: Partial<ProxyHeader> & Pick<ProxyHeader, 'version' | 'family'>): ProxyHeader {
  return { command: 'PROXY', source: null, destination: null, tlvs: new Map(), ...fields }
}

function expectDone(input: Buffer, expected: ProxyHeader, length = input.length): void {
  expect(parseProxyHeader(input)).to.deep.equal({ status: 'done', header: expected, length })
}

function expectInvalid(input: Buffer): void {
  const result = parseProxyHeader(input)
  expect(result.status, JSON.stringify(input.toString('latin1'))).to.equal('invalid')
  if (result.status === 'invalid') expect(result.reason).to.be.a('string').that.is.not.empty
}

function headerOf(input: Buffer): ProxyHeader {
  const result = parseProxyHeader(input)
  if (result.status !== 'done') expect.fail(`expected a header, got ${JSON.stringify(result)}`)
  return result.header
}

function expectEveryPrefixIncomplete(input: Buffer): void {
  for (let k = 0; k < input.length; k++) {
    expect(parseProxyHeader(input.subarray(0, k)), `prefix of ${k} octets`).to.deep.equal({ status: 'incomplete' })
  }
}

describe('parseProxyHeader', () => {
  describe('version detection', () => {
    it('returns incomplete for every prefix of either signature', () => {
      expectEveryPrefixIncomplete(V2_SIGNATURE)
      expectEveryPrefixIncomplete(v1('PROXY '))
    })

    it('rejects a client that speaks SMTP first', () => {
      expectInvalid(v1('EHLO client.example\r\n'))
      expectInvalid(v1('Q'))
    })

    it('rejects input that leaves a signature part-way', () => {
      expectInvalid(v1('PROXX'))
      expectInvalid(v1('proxy '))
      expectInvalid(v1('PROXY\r\n'))
      expectInvalid(v1('\r\n\r\n\0\r\nQUIT\r\n'))
      expectInvalid(v1('\r\nEHLO'))
    })
  })

  describe('version 1', () => {
    it('parses a TCP4 v1 header', () => {
      expectDone(
        v1('PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n'),
        header({
          version: 1,
          family: 'TCP4',
          source: { address: '192.0.2.1', port: 56324 },
          destination: { address: '198.51.100.2', port: 25 },
        }),
      )
    })

    it('parses a TCP6 v1 header and writes its addresses in RFC 5952 form', () => {
      expectDone(
        v1('PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 0 65535\r\n'),
        header({
          version: 1,
          family: 'TCP6',
          source: { address: '2001:db8::1', port: 0 },
          destination: { address: '::1', port: 65535 },
        }),
      )
    })

    it('parses an UNKNOWN v1 header without trailing text', () => {
      expectDone(v1('PROXY UNKNOWN\r\n'), header({ version: 1, family: 'UNKNOWN' }))
    })

    it('parses an UNKNOWN v1 header and ignores its trailing text', () => {
      expectDone(v1('PROXY UNKNOWN whatever, even  double spaces\r\n'), header({ version: 1, family: 'UNKNOWN' }))
    })

    it('accepts a v1 header of exactly 107 octets', () => {
      const widest = Array(8).fill('ffff').join(':')
      const input = v1(`PROXY UNKNOWN ${widest} ${widest} 65535 65535\r\n`)
      expect(input.length).to.equal(PROXY_V1_MAX_LENGTH)
      expectDone(input, header({ version: 1, family: 'UNKNOWN' }))
    })

    it('leaves the bytes after the CRLF to the caller', () => {
      const line = 'PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n'
      const result = parseProxyHeader(v1(`${line}EHLO client.example\r\n`))
      expect(result).to.include({ status: 'done', length: line.length })
    })

    it('returns incomplete for every proper prefix of a v1 header', () => {
      expectEveryPrefixIncomplete(v1('PROXY TCP6 2001:db8::1 2001:db8::2 56324 25\r\n'))
      expectEveryPrefixIncomplete(v1('PROXY UNKNOWN\r\n'))
    })

    it('waits for the CRLF up to the 107th octet', () => {
      expect(parseProxyHeader(v1(`PROXY UNKNOWN ${'x'.repeat(92)}`)).status).to.equal('incomplete')
      expect(parseProxyHeader(v1(`PROXY UNKNOWN ${'x'.repeat(91)}\r`)).status).to.equal('incomplete')
    })

    const validIPv6: Array<[text: string, written: string]> = [
      ['::', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
      ['0001:0DB8:0:0:0:0:0:0001', '1:db8::1'],
      ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
      ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
      ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
      ['::FFFF:c000:0201', '::ffff:192.0.2.1'],
    ]
    for (const [text, written] of validIPv6) {
      it(`accepts the IPv6 address ${text} and writes it as ${written}`, () => {
        expect(headerOf(v1(`PROXY TCP6 ${text} ::1 1 2\r\n`)).source).to.deep.equal({ address: written, port: 1 })
      })
    }

    const invalidIPv6 = [
      '1::2::3',
      ':::',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '1:2:3:4::5:6:7:8',
      ':1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7:',
      '12345::',
      'g::',
      'fe80::1%eth0',
      '1.2.3.4::',
      '::1.2.3.4:5',
      '::1.2.3.256',
      '192.0.2.1',
    ]
    for (const text of invalidIPv6) {
      it(`rejects the IPv6 address ${text}`, () => {
        expectInvalid(v1(`PROXY TCP6 ${text} ::1 1 2\r\n`))
        expectInvalid(v1(`PROXY TCP6 ::1 ${text} 1 2\r\n`))
      })
    }

    const invalidLines: Array<[name: string, text: string]> = [
      ['an IPv4 part above 255', 'PROXY TCP4 192.0.2.256 198.51.100.2 56324 25\r\n'],
      ['an IPv4 part with a leading zero', 'PROXY TCP4 192.0.2.1 198.51.100.02 56324 25\r\n'],
      ['an IPv4 address of three parts', 'PROXY TCP4 192.0.2 198.51.100.2 56324 25\r\n'],
      ['port 65536', 'PROXY TCP4 192.0.2.1 198.51.100.2 65536 25\r\n'],
      ['a port with a leading zero', 'PROXY TCP4 192.0.2.1 198.51.100.2 56324 025\r\n'],
      ['a port that is not a number', 'PROXY TCP4 192.0.2.1 198.51.100.2 56324 smtp\r\n'],
      ['a negative port', 'PROXY TCP4 192.0.2.1 198.51.100.2 -1 25\r\n'],
      ['two spaces between fields', 'PROXY TCP4 192.0.2.1  198.51.100.2 56324 25\r\n'],
      ['two spaces after PROXY', 'PROXY  TCP4 192.0.2.1 198.51.100.2 56324 25\r\n'],
      ['a space before the CRLF', 'PROXY TCP4 192.0.2.1 198.51.100.2 56324 25 \r\n'],
      ['a tab between fields', 'PROXY TCP4 192.0.2.1\t198.51.100.2 56324 25\r\n'],
      ['too few fields', 'PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n'],
      ['an IPv6 address in a TCP4 line', 'PROXY TCP4 2001:db8::1 198.51.100.2 56324 25\r\n'],
      ['an IPv4 address in a TCP6 line', 'PROXY TCP6 2001:db8::1 198.51.100.2 56324 25\r\n'],
      ['an unknown protocol', 'PROXY UDP4 192.0.2.1 198.51.100.2 56324 25\r\n'],
      ['a lowercase protocol', 'PROXY tcp4 192.0.2.1 198.51.100.2 56324 25\r\n'],
      ['UNKNOWN run into other text', 'PROXY UNKNOWNX\r\n'],
      ['a bare LF instead of CRLF', 'PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\n'],
      ['a bare CR before the CRLF', 'PROXY UNKNOWN a\rb\r\n'],
      ['a CR followed by something other than LF', 'PROXY TCP4\rX'],
      ['no CRLF within 107 octets', `PROXY UNKNOWN ${'x'.repeat(93)}`],
      ['a CRLF ending at octet 108', `PROXY UNKNOWN ${'x'.repeat(92)}\r\n`],
    ]
    for (const [name, text] of invalidLines) {
      it(`rejects a v1 header with ${name}`, () => expectInvalid(v1(text)))
    }
  })

  describe('version 2', () => {
    type IpFamily = [family: ProxyHeader['family'], familyTransport: number, block: Buffer, src: string, dst: string]
    const ipFamilies: IpFamily[] = [
      ['TCP4', 0x11, TCP4_BLOCK, '192.0.2.1', '198.51.100.2'],
      ['UDP4', 0x12, TCP4_BLOCK, '192.0.2.1', '198.51.100.2'],
      ['TCP6', 0x21, TCP6_BLOCK, '2001:db8::1', '2001:db8::2'],
      ['UDP6', 0x22, TCP6_BLOCK, '2001:db8::1', '2001:db8::2'],
    ]
    for (const [family, familyTransport, addresses, src, dst] of ipFamilies) {
      it(`parses a PROXY ${family} v2 header`, () => {
        const source = { address: src, port: 56324 }
        const destination = { address: dst, port: 25 }
        expectDone(v2({ familyTransport, addresses }), header({ version: 2, family, source, destination }))
      })
    }

    const written: Array<[groups: number[], text: string]> = [
      [[0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], '2001:db8::1'],
      [[0, 0, 0, 0, 0, 0, 0, 0], '::'],
      [[0, 0, 0, 0, 0, 0, 0, 1], '::1'],
      [[1, 0, 0, 0, 0, 0, 0, 0], '1::'],
      [[0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], '2001:db8:0:1:1:1:1:1'],
      [[0x2001, 0, 0, 1, 0, 0, 0, 1], '2001:0:0:1::1'],
      [[0x2001, 0xdb8, 0, 0, 1, 0, 0, 1], '2001:db8::1:0:0:1'],
      [[0xabcd, 0xef01, 0x23, 0x4567, 0x89ab, 0xcdef, 0x100, 0xa], 'abcd:ef01:23:4567:89ab:cdef:100:a'],
      [[0, 0, 0, 0, 0, 0xffff, 0xc000, 0x201], '::ffff:192.0.2.1'],
    ]
    for (const [groups, text] of written) {
      it(`writes the IPv6 address ${text} in RFC 5952 form`, () => {
        const addresses = ipBlock(ipv6(...groups), ipv6(0, 0, 0, 0, 0, 0, 0, 1), 1, 2)
        expect(headerOf(v2({ familyTransport: 0x21, addresses })).source).to.deep.equal({ address: text, port: 1 })
      })
    }

    it('parses a LOCAL v2 header without addresses', () => {
      const input = v2({ versionCommand: LOCAL, familyTransport: 0x00 })
      expectDone(input, header({ version: 2, command: 'LOCAL', family: 'UNSPEC' }))
    })

    it('skips the addresses of a LOCAL v2 header and reads the TLVs after them', () => {
      const input = v2({ versionCommand: LOCAL, addresses: TCP4_BLOCK, tlvs: [[0x01, v1('smtp')]] })
      expectDone(input, header({ version: 2, command: 'LOCAL', family: 'TCP4', tlvs: new Map([[0x01, v1('smtp')]]) }))
    })

    it('accepts a LOCAL v2 header whose block is too short for its family', () => {
      const input = v2({ versionCommand: LOCAL, familyTransport: 0x21, addresses: TCP4_BLOCK })
      expectDone(input, header({ version: 2, command: 'LOCAL', family: 'TCP6' }))
    })

    it('parses a PROXY UNSPEC v2 header with no addresses', () => {
      const input = v2({ familyTransport: 0x00, tlvs: [[0x02, v1('mx.example')]] })
      expectDone(input, header({ version: 2, family: 'UNSPEC', tlvs: new Map([[0x02, v1('mx.example')]]) }))
    })

    for (const familyTransport of [0x31, 0x32]) {
      it(`parses a UNIX v2 header (0x${familyTransport.toString(16)}) with no addresses`, () => {
        const path = (text: string): Buffer => Buffer.concat([v1(text), Buffer.alloc(108 - text.length)])
        const input = v2({ familyTransport, addresses: Buffer.concat([path('/run/a.sock'), path('/run/b.sock')]) })
        expectDone(input, header({ version: 2, family: 'UNIX' }))
      })
    }

    it('reads TLVs as views of the input', () => {
      const input = v2({ addresses: TCP4_BLOCK, tlvs: [[0x01, v1('smtp')], [0x20, ipv4(1, 0, 0, 0, 0)]] })
      const tlvs = headerOf(input).tlvs
      expect([...tlvs.keys()]).to.deep.equal([0x01, 0x20])
      const alpn = tlvs.get(0x01)
      expect(alpn?.toString()).to.equal('smtp')
      expect(alpn?.buffer).to.equal(input.buffer)
      expect((alpn?.byteOffset ?? 0) - input.byteOffset).to.equal(16 + 12 + 3)
    })

    it('reads a TLV with an empty value', () => {
      const input = v2({ addresses: TCP4_BLOCK, tlvs: [[0x04, Buffer.alloc(0)]] })
      expect(headerOf(input).tlvs.get(0x04)).to.deep.equal(Buffer.alloc(0))
    })

    it('keeps the first of a repeated TLV type', () => {
      const input = v2({ addresses: TCP4_BLOCK, tlvs: [[0x02, v1('first')], [0x02, v1('second')]] })
      expect(headerOf(input).tlvs.get(0x02)?.toString()).to.equal('first')
    })

    it('leaves the bytes after the header to the caller', () => {
      const head = v2({ addresses: TCP4_BLOCK, tlvs: [[0x01, v1('smtp')]] })
      const input = Buffer.concat([head, v1('EHLO client.example\r\n')])
      const result = parseProxyHeader(input)
      expect(result).to.include({ status: 'done', length: head.length })
      if (result.status === 'done') expect(input.subarray(result.length).toString()).to.equal('EHLO client.example\r\n')
    })

    it('returns incomplete for every proper prefix of a v2 header', () => {
      expectEveryPrefixIncomplete(v2({ familyTransport: 0x21, addresses: TCP6_BLOCK, tlvs: [[0x01, v1('smtp')]] }))
      expectEveryPrefixIncomplete(v2({ versionCommand: LOCAL, familyTransport: 0x00 }))
    })

    it('completes exactly at its full length when fed in growing reads', () => {
      const tlvs = [[0x01, v1('smtp')], [0x02, v1('mx.example')]] as const
      const head = v2({ familyTransport: 0x21, addresses: TCP6_BLOCK, tlvs })
      const wire = Buffer.concat([head, v1('EHLO client.example\r\n')])
      let received = Buffer.alloc(0)
      for (let size = 1; ; size++) {
        received = Buffer.concat([received, wire.subarray(received.length, received.length + size)])
        const result = parseProxyHeader(received)
        if (received.length < head.length) {
          expect(result, `after ${received.length} octets`).to.deep.equal({ status: 'incomplete' })
          continue
        }
        expect(result).to.include({ status: 'done', length: head.length })
        expect(received.length).to.be.greaterThan(head.length) // the last read also carried SMTP bytes
        break
      }
    })

    /** A PROXY TCP4 header whose address block is followed by `tail` instead of well-formed TLVs. */
    const tcp4With = (tail: Buffer): Buffer => v2({ addresses: Buffer.concat([TCP4_BLOCK, tail]) })
    const invalidHeaders: Array<[name: string, input: Buffer]> = [
      ['version nibble 1', v2({ versionCommand: 0x11, addresses: TCP4_BLOCK })],
      ['version nibble 3', v2({ versionCommand: 0x31, addresses: TCP4_BLOCK })],
      ['command 2', v2({ versionCommand: 0x22, addresses: TCP4_BLOCK })],
      ['command 15', v2({ versionCommand: 0x2f, addresses: TCP4_BLOCK })],
      ['family 0x01', v2({ familyTransport: 0x01 })],
      ['family 0x10', v2({ familyTransport: 0x10, addresses: TCP4_BLOCK })],
      ['family 0x13', v2({ familyTransport: 0x13, addresses: TCP4_BLOCK })],
      ['family 0x41', v2({ familyTransport: 0x41, addresses: TCP4_BLOCK })],
      ['family 0x13 on a LOCAL header', v2({ versionCommand: LOCAL, familyTransport: 0x13 })],
      ['a TCP4 block of 11 octets', v2({ familyTransport: 0x11, addresses: TCP4_BLOCK.subarray(0, 11) })],
      ['a UDP4 block of 0 octets', v2({ familyTransport: 0x12 })],
      ['a TCP6 block of 35 octets', v2({ familyTransport: 0x21, addresses: TCP6_BLOCK.subarray(0, 35) })],
      ['a UDP6 block of 12 octets', v2({ familyTransport: 0x22, addresses: TCP4_BLOCK })],
      ['a UNIX block of 215 octets', v2({ familyTransport: 0x31, addresses: Buffer.alloc(215) })],
      ['a TLV cut inside its length', tcp4With(Buffer.from([0x01, 0x00]))],
      ['a TLV cut after its type', tcp4With(Buffer.from([0x01]))],
      ['a TLV value running past the end', tcp4With(tlv(0x01, v1('smtp')).subarray(0, 6))],
    ]
    for (const [name, input] of invalidHeaders) {
      it(`rejects a v2 header with ${name}`, () => expectInvalid(input))
    }

    it('rejects a bad fixed field before the rest of the header arrives', () => {
      expectInvalid(v2({ versionCommand: 0x11, addresses: TCP4_BLOCK }).subarray(0, 13))
      expectInvalid(v2({ versionCommand: 0x23, addresses: TCP4_BLOCK }).subarray(0, 13))
      expectInvalid(v2({ familyTransport: 0x14, addresses: TCP4_BLOCK }).subarray(0, 14))
      expectInvalid(v2({ familyTransport: 0x21, addresses: TCP4_BLOCK }).subarray(0, 16))
    })
  })
})
