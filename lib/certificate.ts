// A self-signed X.509 certificate for local testing (the sample's --tls-self-signed, and specs):
// an EC P-256 key from node:crypto and a small DER encoder for the certificate (RFC 5280).
// Not for production: nothing but the holder of the key trusts it.

import { generateKeyPairSync, randomBytes, sign } from 'node:crypto'

/** A key and certificate, both PEM. */
export interface SelfSignedCertificate {
  /** The private key, PEM. */
  readonly key: string
  /** The certificate, PEM. */
  readonly cert: string
}

/** What the certificate says. */
export interface SelfSignedOptions {
  /** Subject and issuer common name. Default `localhost`. */
  commonName?: string
  /** DNS names and IP addresses it is valid for. Default `localhost`, `127.0.0.1`, `::1`. */
  altNames?: readonly string[]
  /** Days it is valid for, from one hour ago. Default 30. */
  days?: number
  /** Serial number, big-endian, positive (top bit clear), at most 20 octets. Default: 16 random octets. */
  serialNumber?: Buffer
}

// DER: a tag, a length (short form below 128, else long form), the content.
function tlv(tag: number, content: Buffer): Buffer {
  const length = content.length
  if (length < 0x80) return Buffer.concat([Buffer.from([tag, length]), content])
  const octets: number[] = []
  for (let n = length; n > 0; n = Math.floor(n / 256)) octets.unshift(n % 256)
  return Buffer.concat([Buffer.from([tag, 0x80 | octets.length, ...octets]), content])
}

const sequence = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items))
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items))
const explicit = (n: number, content: Buffer): Buffer => tlv(0xa0 + n, content)
const octetString = (content: Buffer): Buffer => tlv(0x04, content)
const bitString = (content: Buffer, unusedBits = 0): Buffer => tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), content]))
const utf8 = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'))
const boolean = (value: boolean): Buffer => tlv(0x01, Buffer.from([value ? 0xff : 0]))

/** A non-negative INTEGER, minimally encoded (X.690 §8.3.2: no redundant leading zero octet). */
function integer(bytes: Buffer): Buffer {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  const minimal = bytes.subarray(start)
  // A leading 0 keeps a top bit that is set from reading as a sign.
  return tlv(0x02, (minimal[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), minimal]) : minimal)
}

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number)
  const octets = [first * 40 + second]
  for (const arc of rest) {
    const base128: number[] = [arc & 0x7f]
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) base128.unshift(0x80 | (n & 0x7f))
    octets.push(...base128)
  }
  return tlv(0x06, Buffer.from(octets))
}

function time(date: Date): Buffer {
  // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime after.
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14)
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`))
}

function ipOctets(address: string): Buffer | null {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(address)) return Buffer.from(address.split('.').map(Number))
  if (!address.includes(':')) return null
  const [head = '', tail = ''] = address.split('::')
  const groups = (text: string): number[] => (text ? text.split(':').map((g) => parseInt(g, 16)) : [])
  const left = groups(head)
  const right = address.includes('::') ? groups(tail) : []
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
  return Buffer.from(all.flatMap((g) => [g >> 8, g & 0xff]))
}

const ECDSA_WITH_SHA256 = sequence(oid('1.2.840.10045.4.3.2'))

/**
 * Makes a self-signed certificate and its key, in memory, in a few milliseconds.
 *
 * @example
 * const { key, cert } = createSelfSignedCertificate({ altNames: ['mail.test', '127.0.0.1'] })
 * const server = new SmtpServer({ tls: { key, cert } }, handler)
 */
export function createSelfSignedCertificate(options: SelfSignedOptions = {}): SelfSignedCertificate {
  const commonName = options.commonName ?? 'localhost'
  const altNames = options.altNames ?? ['localhost', '127.0.0.1', '::1']
  const days = options.days ?? 30
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const name = sequence(set(sequence(oid('2.5.4.3'), utf8(commonName))))
  const notBefore = new Date(Date.now() - 3600_000)
  const notAfter = new Date(notBefore.getTime() + days * 86400_000)
  const serial = options.serialNumber ?? randomBytes(16)
  // RFC 5280 §4.1.2.2: a positive serial of at most 20 octets; 0x40 keeps a random one 16 octets long.
  if (!options.serialNumber) serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40
  const subjectAltNames = altNames.map((alt) => {
    const ip = ipOctets(alt)
    return ip ? tlv(0x87, ip) : tlv(0x82, Buffer.from(alt, 'ascii'))
  })
  const extensions = sequence(
    sequence(oid('2.5.29.19'), boolean(true), octetString(sequence())), // basicConstraints: not a CA
    sequence(oid('2.5.29.15'), boolean(true), octetString(bitString(Buffer.from([0x80]), 7))), // keyUsage: digitalSignature
    sequence(oid('2.5.29.37'), octetString(sequence(oid('1.3.6.1.5.5.7.3.1')))), // extKeyUsage: serverAuth
    sequence(oid('2.5.29.17'), octetString(sequence(...subjectAltNames))),
  )
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // version 3
    integer(serial),
    ECDSA_WITH_SHA256,
    name,
    sequence(time(notBefore), time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, extensions),
  )
  const certificate = sequence(tbs, ECDSA_WITH_SHA256, bitString(sign('sha256', tbs, privateKey)))
  const base64 = certificate.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')
  return {
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    cert: `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`,
  }
}
