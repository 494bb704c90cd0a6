// MAIL and RCPT parameters: raw KEY=VALUE pairs → typed, validated objects, checked against the
// extensions that are switched on. Pure; replies are named, never sent from here.

import { decodeUnicodeEscapes, decodeXtext } from './address.js'
import type { RawParams } from './parser.js'
import type { ReplyKey } from './replies.js'

/** The `BODY=` values of RFC 6152 and RFC 3030. */
export type BodyType = '7BIT' | '8BITMIME' | 'BINARYMIME'

/** One `NOTIFY=` condition of RFC 3461 (`NEVER` stands alone). */
export type DsnNotify = 'NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY'

/** Parameters of MAIL FROM, typed. Unknown keywords never get here: they are refused with 555. */
export interface MailParams {
  /** RFC 1870 `SIZE=`: the size the client declared, or null. */
  readonly size: number | null
  /** RFC 6152 / RFC 3030 `BODY=`, or null when not given. */
  readonly body: BodyType | null
  /** RFC 6531: the transaction may carry UTF-8 addresses and headers. */
  readonly smtpUtf8: boolean
  /** RFC 3461 `RET=`. */
  readonly ret: 'FULL' | 'HDRS' | null
  /** RFC 3461 `ENVID=`, xtext-decoded. */
  readonly envid: string | null
  /** RFC 4954 §5 `AUTH=`, xtext-decoded (`<>` when the submitter is unknown). */
  readonly auth: string | null
  /** Every parameter as sent, keyword upper-cased. */
  readonly raw: RawParams
}

/** An RFC 3461 original recipient: `ORCPT=rfc822;user@example.org`. */
export interface OriginalRecipient {
  /** The address type, e.g. `rfc822` or `utf-8`. */
  readonly type: string
  /** The address, xtext-decoded. */
  readonly address: string
}

/** Parameters of RCPT TO, typed. */
export interface RcptParams {
  /** RFC 3461 `NOTIFY=`: `['NEVER']` or any of SUCCESS, FAILURE, DELAY; null when not given. */
  readonly notify: readonly DsnNotify[] | null
  /** RFC 3461 `ORCPT=`, or null. */
  readonly orcpt: OriginalRecipient | null
  /** Every parameter as sent, keyword upper-cased. */
  readonly raw: RawParams
}

/** Which parameter-bearing extensions are on. */
export interface ParamExtensions {
  readonly size: boolean
  readonly eightBitMime: boolean
  readonly binaryMime: boolean
  readonly smtpUtf8: boolean
  readonly dsn: boolean
  readonly auth: boolean
}

// Hoisted: a regular expression literal is a new object each time it is evaluated (every SIZE=).
const SIZE_VALUE = /^\d{1,15}$/

function hasDuplicate(raw: RawParams): boolean {
  // Most MAIL and RCPT lines carry one parameter or none: no Set for them.
  if (raw.length < 2) return false
  const seen = new Set<string>()
  for (const [key] of raw) {
    if (seen.has(key)) return true
    seen.add(key)
  }
  return false
}

/**
 * Types and checks MAIL FROM parameters: the params, or the catalogue reply that refuses them (555
 * for unknown or disabled ones, 501 for bad values). No result object: one per MAIL.
 */
export function mailParams(raw: RawParams, ext: ParamExtensions): MailParams | ReplyKey {
  if (hasDuplicate(raw)) return 'duplicateParameter'
  let size: number | null = null
  let body: BodyType | null = null
  let smtpUtf8 = false
  let ret: 'FULL' | 'HDRS' | null = null
  let envid: string | null = null
  let auth: string | null = null
  // Indexed, not for-of: an iterator per MAIL showed in allocation profiles, even for no parameters.
  for (let i = 0; i < raw.length; i++) {
    const [key, value] = raw[i] as RawParams[number]
    switch (key) {
      case 'SIZE':
        if (!ext.size) return 'unknownParameter'
        if (value === null || !SIZE_VALUE.test(value)) return 'badParameterValue'
        size = Number(value)
        break
      case 'BODY': {
        if (!ext.eightBitMime && !ext.binaryMime) return 'unknownParameter'
        const upper = value?.toUpperCase()
        if (upper === '7BIT' || (upper === '8BITMIME' && ext.eightBitMime)) body = upper
        else if (upper === 'BINARYMIME' && ext.binaryMime) body = upper
        else return 'badParameterValue'
        break
      }
      case 'SMTPUTF8':
        if (!ext.smtpUtf8) return 'unknownParameter'
        if (value !== null) return 'badParameterValue'
        smtpUtf8 = true
        break
      case 'RET': {
        if (!ext.dsn) return 'unknownParameter'
        const upper = value?.toUpperCase()
        if (upper !== 'FULL' && upper !== 'HDRS') return 'badParameterValue'
        ret = upper
        break
      }
      case 'ENVID': {
        if (!ext.dsn) return 'unknownParameter'
        const decoded = value === null ? null : decodeXtext(value)
        // RFC 3461 §4.4: ENVID is at most 100 characters of printable ASCII.
        if (decoded === null || decoded.length > 100 || !/^[\x20-\x7E]+$/.test(decoded)) return 'badParameterValue'
        envid = decoded
        break
      }
      case 'AUTH': {
        if (!ext.auth) return 'unknownParameter'
        const decoded = value === null ? null : decodeXtext(value)
        if (decoded === null) return 'badParameterValue'
        auth = decoded
        break
      }
      default:
        return 'unknownParameter'
    }
  }
  return { size, body, smtpUtf8, ret, envid, auth, raw }
}

function parseNotify(value: string): DsnNotify[] | null {
  const items = value.toUpperCase().split(',')
  const allowed = new Set(['NEVER', 'SUCCESS', 'FAILURE', 'DELAY'])
  if (!items.every((item) => allowed.has(item)) || new Set(items).size !== items.length) return null
  // RFC 3461 §4.1: NEVER must appear alone.
  if (items.includes('NEVER') && items.length > 1) return null
  return items as DsnNotify[]
}

/**
 * Types and checks RCPT TO parameters: the params, or the catalogue reply that refuses them (555
 * for unknown or disabled ones, 501 for bad values). No result object: one per RCPT.
 */
export function rcptParams(raw: RawParams, ext: ParamExtensions): RcptParams | ReplyKey {
  if (hasDuplicate(raw)) return 'duplicateParameter'
  let notify: DsnNotify[] | null = null
  let orcpt: OriginalRecipient | null = null
  for (let i = 0; i < raw.length; i++) {
    const [key, value] = raw[i] as RawParams[number]
    if ((key === 'NOTIFY' || key === 'ORCPT') && !ext.dsn) return 'unknownParameter'
    if (key === 'NOTIFY') {
      notify = value === null ? null : parseNotify(value)
      if (notify === null) return 'badParameterValue'
    } else if (key === 'ORCPT') {
      // RFC 3461 §4.2: ORCPT=addr-type ";" xtext; RFC 6533 §3 adds \x{HHHH} for type utf-8.
      const match = value === null ? null : /^([A-Za-z0-9][A-Za-z0-9-]*);(.+)$/.exec(value)
      const type = match?.[1] ?? ''
      const utf8 = type.toLowerCase() === 'utf-8'
      const xtext = match ? decodeXtext(match[2] ?? '', utf8) : null
      const address = xtext !== null && utf8 ? decodeUnicodeEscapes(xtext) : xtext
      if (!match || address === null) return 'badParameterValue'
      orcpt = { type, address }
    } else {
      return 'unknownParameter'
    }
  }
  return { notify, orcpt, raw }
}
