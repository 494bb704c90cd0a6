import { expect } from 'chai'
import { inRanges, ipOctets, isIpRange } from '../lib/ip-range.js'

describe('ip-range', () => {
  it('turns addresses into octets, IPv4-mapped IPv6 into IPv4', () => {
    expect(ipOctets('192.0.2.1')?.toString('hex')).to.equal('c0000201')
    expect(ipOctets('2001:db8::1')?.toString('hex')).to.equal('20010db8000000000000000000000001')
    expect(ipOctets('::ffff:192.0.2.1')?.toString('hex')).to.equal('c0000201')
    expect(ipOctets('64:ff9b::192.0.2.1')?.toString('hex')).to.equal('0064ff9b0000000000000000c0000201')
    expect(ipOctets('mx.test')).to.equal(null)
  })

  const ranges: Array<[string, boolean]> = [
    ['10.0.0.0/8', true],
    ['192.0.2.1', true],
    ['2001:db8::/32', true],
    ['::/0', true],
    ['10.0.0.0/33', false],
    ['2001:db8::/129', false],
    ['10.0.0.0/', false],
    ['10.0.0.0/8x', false],
    ['example.org', false],
  ]
  for (const [text, valid] of ranges) {
    it(`${valid ? 'accepts' : 'refuses'} ${text} as a range`, () => expect(isIpRange(text)).to.equal(valid))
  }

  const matches: Array<[string, string[], boolean]> = [
    ['10.200.3.4', ['10.0.0.0/8'], true],
    ['11.0.0.1', ['10.0.0.0/8'], false],
    ['192.0.2.130', ['192.0.2.128/25'], true],
    ['192.0.2.127', ['192.0.2.128/25'], false],
    ['::ffff:10.1.1.1', ['10.0.0.0/8'], true],
    ['2001:db8:abcd::1', ['2001:db8::/32'], true],
    ['2001:db9::1', ['2001:db8::/32'], false],
    ['10.0.0.1', ['2001:db8::/32', '10.0.0.1'], true],
    ['not an address', ['0.0.0.0/0'], false],
  ]
  for (const [address, list, expected] of matches) {
    it(`${expected ? 'finds' : 'does not find'} ${address} in ${list.join(', ')}`, () => expect(inRanges(address, list)).to.equal(expected))
  }
})
