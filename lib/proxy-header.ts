// The PROXY protocol header (HAProxy proxy-protocol.txt, versions 1 and 2) a load balancer sends before
// any SMTP byte: telling it apart from SMTP, and parsing and checking it. Pure: no I/O, no state.

/** One end of the relayed connection as the proxy reports it. */
export interface ProxyAddress {
  /** The IP address as text. */
  readonly address: string
  /** The TCP or UDP port. */
  readonly port: number
}

/** A parsed PROXY header. */
export interface ProxyHeader {
  /** Which version of the PROXY protocol the header used: the text form (1) or the binary one (2). */
  readonly version: 1 | 2
  /** 'PROXY': relayed connection; 'LOCAL': v2 health check from the proxy itself (use the real socket addresses). */
  readonly command: 'PROXY' | 'LOCAL'
  /** 'TCP4' | 'TCP6' | 'UNKNOWN' for v1; for v2 also 'UDP4' | 'UDP6' | 'UNIX' | 'UNSPEC' */
  readonly family: 'TCP4' | 'TCP6' | 'UDP4' | 'UDP6' | 'UNIX' | 'UNKNOWN' | 'UNSPEC'
  /** null for UNKNOWN / UNSPEC / LOCAL / UNIX */
  readonly source: ProxyAddress | null
  /** The address the client connected to on the proxy; null when `source` is. */
  readonly destination: ProxyAddress | null
  /** v2 TLVs by type (empty map for v1), values as views of the input */
  readonly tlvs: ReadonlyMap<number, Buffer>
}

/**
 * The outcome of one parse of the bytes a connection sent so far. On `done`, `input.subarray(length)`
 * is protocol data that arrived with the header.
 */
export type ProxyParse =
  // need more bytes; nothing wrong so far
  | { readonly status: 'incomplete' }
  // malformed or not a PROXY header: the caller closes the connection
  | { readonly status: 'invalid'; readonly reason: string }
  // `length` = octets the header used
  | { readonly status: 'done'; readonly header: ProxyHeader; readonly length: number }

/** Longest v1 header including CRLF (spec: 107). */
export const PROXY_V1_MAX_LENGTH = 107

type Family = ProxyHeader['family']

const CR = 0x0d
const LF = 0x0a
const V1_SIGNATURE = Buffer.from('PROXY ', 'latin1')
const V2_SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1')
/** Signature, version+command, family+transport and the 2-octet length. */
const V2_FIXED_LENGTH = 16
const MAPPED_PREFIX = Buffer.from('00000000000000000000ffff', 'hex')

const INCOMPLETE: ProxyParse = Object.freeze({ status: 'incomplete' })
const invalid = (reason: string): ProxyParse => ({ status: 'invalid', reason })

interface V2Family {
  readonly family: Family
  /** Octets of the address block: two addresses, then two 2-octet ports for IP families. */
  readonly size: number
  /** Octets of one IP address; 0 when the block holds none the caller can use. */
  readonly ip: 0 | 4 | 16
}

// proxy-protocol.txt §2.2: the 14th byte is address family (high nibble) and transport (low nibble);
// every other value "must be rejected as invalid by receivers".
const V2_FAMILIES: ReadonlyMap<number, V2Family> = new Map<number, V2Family>([
  [0x00, { family: 'UNSPEC', size: 0, ip: 0 }],
  [0x11, { family: 'TCP4', size: 12, ip: 4 }],
  [0x12, { family: 'UDP4', size: 12, ip: 4 }],
  [0x21, { family: 'TCP6', size: 36, ip: 16 }],
  [0x22, { family: 'UDP6', size: 36, ip: 16 }],
  [0x31, { family: 'UNIX', size: 216, ip: 0 }],
  [0x32, { family: 'UNIX', size: 216, ip: 0 }],
])

const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/
const PORT = /^(?:0|[1-9]\d{0,4})$/

/**
 * Parses the start of `input` (everything the connection sent so far). Returns `incomplete` while the
 * bytes are a prefix of a header, `invalid` as soon as they cannot be one, and `done` with the header
 * and its length once it is whole. Call again with the grown input after `incomplete`.
 */
export function parseProxyHeader(input: Buffer): ProxyParse {
  // §2: the two signatures differ in their first byte, so at most one of them can match.
  if (agrees(input, V2_SIGNATURE)) return input.length < V2_SIGNATURE.length ? INCOMPLETE : parseV2(input)
  if (agrees(input, V1_SIGNATURE)) return input.length < V1_SIGNATURE.length ? INCOMPLETE : parseV1(input)
  return invalid('not a PROXY protocol header')
}

/** True when `input` and `signature` are equal over their common length. */
function agrees(input: Buffer, signature: Buffer): boolean {
  const common = Math.min(input.length, signature.length)
  return input.subarray(0, common).equals(signature.subarray(0, common))
}

function done(header: ProxyHeader, length: number): ProxyParse {
  return { status: 'done', header, length }
}

/** The text header: `PROXY <protocol> <src> <dst> <src port> <dst port>\r\n` or `PROXY UNKNOWN[...]\r\n`. */
function parseV1(input: Buffer): ProxyParse {
  // §2.1: the line, CRLF included, is at most 107 octets; past that the sender is not speaking v1.
  const window = input.subarray(0, PROXY_V1_MAX_LENGTH)
  const lf = window.indexOf(LF)
  const cr = window.indexOf(CR)
  if (lf < 0) {
    // A CR followed by anything but LF can never become the line's CRLF.
    if (cr >= 0 && cr + 1 < input.length) return invalid('bare CR in v1 header')
    return input.length < PROXY_V1_MAX_LENGTH ? INCOMPLETE : invalid('no CRLF within 107 octets of a v1 header')
  }
  // §2.1: the line ends with CRLF; a bare CR or LF before it is not part of the format.
  if (cr !== lf - 1) return invalid('v1 header line does not end in CRLF')
  const length = lf + 1
  const line = input.toString('latin1', V1_SIGNATURE.length, cr)
  // §2.1: with UNKNOWN the receiver ignores everything up to the CRLF.
  if (line === 'UNKNOWN' || line.startsWith('UNKNOWN ')) {
    const tlvs = new Map<number, Buffer>()
    return done({ version: 1, command: 'PROXY', family: 'UNKNOWN', source: null, destination: null, tlvs }, length)
  }
  // §2.1: fields are separated by exactly one space, so any other spacing leaves an empty or extra field.
  const fields = line.split(' ')
  if (fields.length !== 5) return invalid('v1 header does not have five single-space-separated fields')
  const [protocol = '', srcText = '', dstText = '', srcPortText = '', dstPortText = ''] = fields
  if (protocol !== 'TCP4' && protocol !== 'TCP6') return invalid(`unknown v1 protocol ${JSON.stringify(protocol)}`)
  const src = protocol === 'TCP4' ? parseIPv4(srcText) : parseIPv6Text(srcText)
  const dst = protocol === 'TCP4' ? parseIPv4(dstText) : parseIPv6Text(dstText)
  if (src === null || dst === null) return invalid(`bad ${protocol} address in v1 header`)
  const srcPort = parsePort(srcPortText)
  const dstPort = parsePort(dstPortText)
  if (srcPort === null || dstPort === null) return invalid('bad port in v1 header')
  return done(
    {
      version: 1,
      command: 'PROXY',
      family: protocol,
      source: { address: src, port: srcPort },
      destination: { address: dst, port: dstPort },
      tlvs: new Map(),
    },
    length,
  )
}

/** A dotted quad with parts 0-255 and no leading zeros (which some stacks read as octal); else null. */
function parseIPv4(text: string): string | null {
  return IPV4.test(text) ? text : null
}

/** An IPv6 address in RFC 4291 §2.2 text form, rewritten in the RFC 5952 form; else null. */
function parseIPv6Text(text: string): string | null {
  const bytes = parseIPv6(text)
  return bytes === null ? null : formatIPv6(bytes)
}

/** A decimal port 0-65535 without leading zeros; else null. */
function parsePort(text: string): number | null {
  if (!PORT.test(text)) return null
  const port = Number(text)
  return port <= 0xffff ? port : null
}

/** The 16 octets of an IPv6 address in RFC 4291 §2.2 text form (no zone); null when it is not one. */
function parseIPv6(text: string): Buffer | null {
  const gap = text.indexOf('::')
  // RFC 4291 §2.2: "::" may appear only once (a third colon next to it is a second one).
  if (gap >= 0 && text.includes('::', gap + 1)) return null
  const compressed = gap >= 0
  const head = parseGroups(compressed ? text.slice(0, gap) : text, !compressed)
  const tail = compressed ? parseGroups(text.slice(gap + 2), true) : []
  if (head === null || tail === null) return null
  const missing = 8 - head.length - tail.length
  // RFC 4291 §2.2: "::" stands for one or more zero groups; without it all eight are written out.
  if (compressed ? missing < 1 : missing !== 0) return null
  const bytes = Buffer.alloc(16)
  head.forEach((group, i) => bytes.writeUInt16BE(group, 2 * i))
  tail.forEach((group, i) => bytes.writeUInt16BE(group, 2 * (8 - tail.length + i)))
  return bytes
}

/** The 16-bit groups of one side of `::`; a dotted IPv4 part counts as two and may only end the address. */
function parseGroups(text: string, endsAddress: boolean): number[] | null {
  if (text === '') return []
  const parts = text.split(':')
  const groups: number[] = []
  for (const [i, part] of parts.entries()) {
    if (HEX_GROUP.test(part)) {
      groups.push(parseInt(part, 16))
    } else if (endsAddress && i === parts.length - 1 && IPV4.test(part)) {
      const quad = Buffer.from(part.split('.').map(Number))
      groups.push(quad.readUInt16BE(0), quad.readUInt16BE(2))
    } else {
      return null
    }
  }
  return groups
}

/** An IPv4 address from its 4 octets. */
function formatIPv4(bytes: Buffer): string {
  return Array.from(bytes).join('.')
}

/**
 * An IPv6 address from its 16 octets, in the RFC 5952 §4 form: lowercase, no leading zeros, the
 * longest run of two or more zero groups (the first on a tie) as `::`, and IPv4-mapped addresses
 * with a dotted tail (§5), as Node writes socket addresses.
 */
function formatIPv6(bytes: Buffer): string {
  if (bytes.subarray(0, 12).equals(MAPPED_PREFIX)) return `::ffff:${formatIPv4(bytes.subarray(12, 16))}`
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i))
  let best = -1
  let bestLength = 1 // RFC 5952 §4.2.2: a single zero group is not shortened
  let run = -1
  for (let i = 0; i <= groups.length; i++) {
    if (i < groups.length && groups[i] === 0) {
      if (run < 0) run = i
    } else if (run >= 0) {
      // Strictly longer only, so the first of equally long runs wins (RFC 5952 §4.2.3).
      if (i - run > bestLength) [best, bestLength] = [run, i - run]
      run = -1
    }
  }
  const hex = groups.map((group) => group.toString(16))
  if (best < 0) return hex.join(':')
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLength).join(':')}`
}

/** The binary header: signature, version+command, family+transport, length, address block, TLVs. */
function parseV2(input: Buffer): ProxyParse {
  // Each fixed field is checked as soon as it arrives, so a bad header is refused without waiting.
  const versionCommand = input[V2_SIGNATURE.length]
  if (versionCommand === undefined) return INCOMPLETE
  // §2.2: the high nibble is the version and must be 2; the low nibble is 0 LOCAL or 1 PROXY, and
  // "receivers must drop connections presenting unexpected values".
  if (versionCommand >> 4 !== 2) return invalid(`unsupported PROXY version ${versionCommand >> 4}`)
  const commandBits = versionCommand & 0x0f
  if (commandBits > 1) return invalid(`unknown v2 command ${commandBits}`)
  const command = commandBits === 1 ? 'PROXY' : 'LOCAL'
  const familyByte = input[V2_SIGNATURE.length + 1]
  if (familyByte === undefined) return INCOMPLETE
  const family = V2_FAMILIES.get(familyByte)
  if (family === undefined) return invalid(`unknown v2 address family 0x${familyByte.toString(16).padStart(2, '0')}`)
  if (input.length < V2_FIXED_LENGTH) return INCOMPLETE
  const length = input.readUInt16BE(V2_SIGNATURE.length + 2)
  // §2.2: the length covers at least the address block of the family. LOCAL ignores the block,
  // family included, and must be accepted: there a short block just holds no addresses.
  if (command === 'PROXY' && length < family.size) return invalid(`v2 length ${length} too short for ${family.family}`)
  const end = V2_FIXED_LENGTH + length
  if (input.length < end) return INCOMPLETE
  const tlvs = parseTlvs(input, length >= family.size ? V2_FIXED_LENGTH + family.size : end, end)
  if (tlvs === null) return invalid('v2 TLV runs past the end of the header')
  // LOCAL: "the receiver must use the real connection endpoints", so its addresses are skipped.
  const ip = command === 'PROXY' ? family.ip : 0
  return done(
    {
      version: 2,
      command,
      family: family.family,
      source: ip === 0 ? null : readAddress(input, ip, 0),
      destination: ip === 0 ? null : readAddress(input, ip, 1),
      tlvs,
    },
    end,
  )
}

/** Address `which` (0 source, 1 destination) of an IP address block: both addresses, then both ports. */
function readAddress(input: Buffer, ip: 4 | 16, which: 0 | 1): ProxyAddress {
  const at = V2_FIXED_LENGTH + which * ip
  const bytes = input.subarray(at, at + ip)
  return {
    address: ip === 4 ? formatIPv4(bytes) : formatIPv6(bytes),
    port: input.readUInt16BE(V2_FIXED_LENGTH + 2 * ip + 2 * which),
  }
}

/** The TLVs in `input[start, end)` by type, or null when one runs past `end`. */
function parseTlvs(input: Buffer, start: number, end: number): Map<number, Buffer> | null {
  const tlvs = new Map<number, Buffer>()
  let at = start
  while (at < end) {
    // §2.2: a TLV is a type octet, a 2-octet big-endian length and that many octets of value.
    if (end - at < 3) return null
    const type = input.readUInt8(at)
    const valueEnd = at + 3 + input.readUInt16BE(at + 1)
    if (valueEnd > end) return null
    // The first of a repeated type is kept, so a later copy cannot replace what a caller checks.
    if (!tlvs.has(type)) tlvs.set(type, input.subarray(at + 3, valueEnd))
    at = valueEnd
  }
  return tlvs
}
