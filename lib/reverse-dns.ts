// Reverse DNS for the client's address (off by default): the name goes into session facts and the
// Received header. Glue: it uses node:dns.

import { promises as dns } from 'node:dns'

/** Looks up a name for an address; null when there is none. */
export type ReverseLookup = (address: string) => Promise<string | null>

/** The first PTR name of `address`, or null when there is none or it takes over `timeoutMs`. */
export function reverseLookup(timeoutMs: number): ReverseLookup {
  return async (address) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const late = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs)
      timer.unref?.()
    })
    try {
      const names = await Promise.race([dns.reverse(address).catch(() => [] as string[]), late])
      return names?.[0] ?? null
    } finally {
      clearTimeout(timer)
    }
  }
}
