// IP addresses and CIDR ranges (`10.0.0.0/8`, `2001:db8::/32`) as octets, for deciding which
// clients are trusted proxies. IPv4-mapped IPv6 (`::ffff:192.0.2.1`) counts as the IPv4 address.

import { isIPv4, isIPv6 } from './address.js'

/** The address as 4 (IPv4) or 16 (IPv6) octets; null when it is neither. */
export function ipOctets(address: string): Buffer | null {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number))
  if (!isIPv6(address)) return null
  let text = address
  let tail: number[] = []
  const dotted = /:(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted) {
    tail = (dotted[1] ?? '').split('.').map(Number)
    text = `${text.slice(0, dotted.index)}:0:0`
  }
  const [head = '', rest = ''] = text.split('::')
  const groups = (part: string): number[] => (part ? part.split(':').map((g) => parseInt(g, 16)) : [])
  const left = groups(head)
  const right = text.includes('::') ? groups(rest) : []
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
  const octets = Buffer.from(all.flatMap((g) => [g >> 8, g & 0xff]))
  if (tail.length === 4) octets.set(tail, 12)
  // ::ffff:a.b.c.d is how a dual-stack socket reports an IPv4 peer.
  const mapped = octets.subarray(0, 12).equals(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]))
  return mapped ? Buffer.from(octets.subarray(12)) : octets
}

interface Range {
  network: Buffer
  prefix: number
}

function parseRange(text: string): Range | null {
  const slash = text.indexOf('/')
  const network = ipOctets(slash < 0 ? text : text.slice(0, slash))
  if (!network) return null
  const bits = network.length * 8
  const prefix = slash < 0 ? bits : Number(text.slice(slash + 1))
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits || (slash >= 0 && !/^\d+$/.test(text.slice(slash + 1)))) return null
  return { network, prefix }
}

/** True for an IP address or a CIDR range. */
export function isIpRange(text: string): boolean {
  return typeof text === 'string' && parseRange(text) !== null
}

// Options are resolved once and asked on every MAIL and RCPT: parse each list of ranges once.
const parsedLists = new WeakMap<readonly string[], readonly (Range | null)[]>()

function parsedRanges(ranges: readonly string[]): readonly (Range | null)[] {
  let parsed = parsedLists.get(ranges)
  if (!parsed) parsedLists.set(ranges, (parsed = ranges.map(parseRange)))
  return parsed
}

/** True when `address` lies in one of `ranges` (a list that never changes: it is parsed once). */
export function inRanges(address: string, ranges: readonly string[]): boolean {
  const octets = ipOctets(address)
  if (!octets) return false
  return parsedRanges(ranges).some((range) => {
    if (!range || range.network.length !== octets.length) return false
    const whole = Math.floor(range.prefix / 8)
    if (!octets.subarray(0, whole).equals(range.network.subarray(0, whole))) return false
    const rest = range.prefix % 8
    if (rest === 0) return true
    const mask = (0xff << (8 - rest)) & 0xff
    return ((octets[whole] ?? 0) & mask) === ((range.network[whole] ?? 0) & mask)
  })
}
