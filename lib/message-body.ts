// The body of one transaction, across all of its BDAT chunks: the dot-decoder, the `dataChunk`
// batch, the collected message, the header scanner, and why the message will be refused, if it
// is. It lives on its transaction (TransactionState.body) and ends with it. No I/O, no events.

import { DotDecoder, type DotDecoderOptions } from './dot-decoder.js'
import type { HeaderScanner } from './header-scanner.js'
import { DEFAULT_CHUNK_SIZE } from './options.js'
import { REPLIES, type Reply } from './replies.js'

/** How a body is read and where its octets go, decided when the data starts. */
export interface MessageBodyPlan {
  readonly decoder: DotDecoderOptions
  /** Someone listens to `dataChunk`: octets are batched for it. */
  readonly streaming: boolean
  /** The whole message is kept for `message.body`. */
  readonly collect: boolean
  /** Scans the header block for `headers` listeners, or null. */
  readonly headers: HeaderScanner | null
  /** The `dataChunk` batch size (options.chunkSize); DEFAULT_CHUNK_SIZE when not given. */
  readonly chunkSize?: number
}

/**
 * Arena sizes: the first of a body twice what it needs, each next one at least twice the last, up
 * to MOST_ARENA or 4 chunkSize; once a body has put LONG_BODY octets in arenas, also room for the
 * rest of the read at hand. Not before: in a read of pipelined messages "the rest of the read" is
 * mostly other messages, and each small message then held an arena of up to 256 KiB (a listener
 * keeping chunks of 6-octet messages pinned 32 KiB each).
 */
const MOST_ARENA = 256 * 1024
const LONG_BODY = 16 * 1024

/** True when `piece` is a view of `arena` that ends at arena[at], so it can grow into what follows. */
function endsAt(piece: Buffer, arena: Buffer, at: number): boolean {
  return piece.buffer === arena.buffer && piece.byteOffset + piece.length === arena.byteOffset + at
}

/** The state of one message body while it is read; its reader (commands/data.ts) is the only writer. */
export class MessageBody {
  readonly decoder: DotDecoder
  /** Someone listens to `dataChunk`: decoded octets wait in the batch until `takeBatch()`. */
  readonly streaming: boolean
  // The batch: its first piece alone (a small message has one), the rest in a list made only for
  // them. An emptied list gives up its room, so refilling one per message cost a 16-slot array.
  private batchFirst: Buffer | null = null
  private batchMore: Buffer[] | null = null
  /** Octets in the batch. */
  batchLength = 0
  private readonly chunkSize: number
  // The arena: octets append() copied out of the decoder's scratch memory (unstuffed dot lines),
  // and small pieces that follow them, go one after another into this buffer, so consecutive
  // ones make one growing piece, which is a batch (a view) once it is chunkSize long. Nothing in
  // it is written twice: a piece given out stays as it is.
  private arena: Buffer | null = null
  /** Where the next octets go in the arena. */
  private arenaAt = 0
  /** Octets this body has copied into arenas so far. */
  private arenaOctets = 0
  /** The whole message, when it is being collected for `message.body`. */
  readonly collected: Buffer[] | null
  /** Octets in `collected`, kept as it grows: `bufferedInput` may be asked after every read. */
  collectedLength = 0
  readonly headers: HeaderScanner | null
  headersReady = false
  tooBig = false
  /** A listener refused the body part-way (`headers` or `dataChunk`): the reply to send at the end. */
  refusal: Reply | null = null
  /** The LAST chunk was answered, or a chunk failed: later BDATs get `refusal` or 503. */
  closed = false
  /** The message got its final reply: a connection lost after that did not cut it off. */
  answered = false

  constructor(plan: MessageBodyPlan) {
    this.decoder = new DotDecoder(plan.decoder)
    this.streaming = plan.streaming
    this.collected = plan.collect ? [] : null
    this.headers = plan.headers
    this.chunkSize = plan.chunkSize ?? DEFAULT_CHUNK_SIZE
  }

  /**
   * Takes decoded octets that are not to be kept where they are (`source` is scratch memory): the
   * same as add() with a copy of them, made into the arena, where they lengthen the batch's last
   * piece when it ends there, so a read with many dot lines is one piece, not one per line.
   * `more`: how much more of the read at hand may follow (room is made for it).
   */
  append(source: Uint8Array, from: number, to: number, more = 0): void {
    const length = to - from
    if (length <= 0) return
    const keep = this.streaming || this.collected !== null
    if (!keep) {
      // Only the header scanner wants them, and it keeps views: a copy of its own.
      if (this.headers && !this.headers.done && this.headers.take(Buffer.from(source.subarray(from, to)))) this.headersReady = true
      return
    }
    this.copyIn(source.subarray(from, to), more)
  }

  /** Passes decoded octets on to the header scanner, the chunk batch and the collection. */
  add(piece: Buffer): void {
    // A small piece after an arena piece still open at its end (a line ending put back, the rest
    // of a read after its last dot line) joins it: the batch would copy it anyway.
    if (this.streaming && piece.length < this.chunkSize && this.openTail() !== null) return this.copyIn(piece, 0)
    if (this.headers?.take(piece)) this.headersReady = true
    if (this.streaming) this.batchPush(piece)
    if (this.collected) {
      this.collected.push(piece)
      this.collectedLength += piece.length
    }
  }

  /**
   * Takes the next `dataChunk` batch off the front of the pending pieces. A piece of at least
   * `chunkSize` octets at the front goes out alone, as it is: a view of the input or of the arena, which nothing
   * writes into afterwards. Otherwise pieces are copied into one new Buffer (they never lie side by
   * side: a read ends between them, a stuffed dot was taken out, or one is the Received header or a
   * normalised line ending) until it holds `chunkSize` octets; the piece that crosses that mark is
   * cut there when its rest could go out alone (at least `chunkSize` more), else taken whole. The
   * pieces after it stay for the next batch. So a copied batch is under 2 × chunkSize (not 2 reads
   * joined), and a long piece is never copied only to be joined to the next. With fewer than
   * `chunkSize` octets pending (the last batch) everything is taken.
   */
  takeBatch(chunkSize: number): Buffer {
    const first = this.batchFirst
    if (first === null) return Buffer.alloc(0)
    const more = this.batchMore
    if (more === null) {
      this.clearBatch()
      return first
    }
    if (first.length >= chunkSize) {
      this.shift(more, 0, null)
      this.batchLength -= first.length
      return first
    }
    // Whole pieces up to the one that crosses chunkSize (or all of them).
    let length = first.length
    let taken = 0
    while (length < chunkSize && taken < more.length) length += (more[taken++] as Buffer).length
    const crossing = more[taken - 1] as Buffer
    const size = length - chunkSize >= chunkSize ? chunkSize : length
    const batch = Buffer.allocUnsafeSlow(size)
    batch.set(first, 0)
    let at = first.length
    for (let i = 0; i < taken - 1; i++) {
      const piece = more[i] as Buffer
      batch.set(piece, at)
      at += piece.length
    }
    if (size === length) {
      batch.set(crossing, at)
      this.shift(more, taken, null)
    } else {
      batch.set(crossing.subarray(0, size - at), at)
      this.shift(more, taken, crossing.subarray(size - at))
    }
    this.batchLength -= size
    return batch
  }

  /** The batch's last piece when it ends where the arena's next octets go (so it can grow), else null. */
  private openTail(): Buffer | null {
    return this.arena === null ? null : this.openTailBefore(this.arena, this.arenaAt)
  }

  /** Copies `bytes` to the arena's end (a new arena when they do not fit; room for `more` after them) and passes them on. */
  private copyIn(bytes: Uint8Array, more: number): void {
    const at = this.room(bytes.length, more)
    const arena = this.arena as Buffer
    arena.set(bytes, at)
    this.arenaAt = at + bytes.length
    this.arenaOctets += bytes.length
    this.taken(arena, at, bytes.length)
  }

  /**
   * Where `length` octets go in the arena: at its end, or at the start of a new one when they do
   * not fit (sized as the arena sizes' comment above the class says; `more` is the rest of the read). A short batch
   * piece still open at the old one's end moves along (it would be copied into its batch anyway),
   * so the batch's piece keeps growing.
   */
  private room(length: number, more: number): number {
    const old = this.arena
    if (old !== null && old.length - this.arenaAt >= length) return this.arenaAt
    const tail = this.streaming ? this.openTail() : null
    const carry = tail !== null && tail.length < this.chunkSize ? tail : null
    const need = length + (carry?.length ?? 0)
    const most = Math.max(MOST_ARENA, 4 * this.chunkSize)
    const ahead = this.arenaOctets >= LONG_BODY ? more : 0
    const size = Math.max(need, Math.min(most, Math.max(need + ahead, 2 * (old === null ? need : old.length))))
    const arena = Buffer.allocUnsafeSlow(size)
    this.arena = arena
    this.arenaAt = 0
    if (carry !== null) {
      arena.set(carry, 0)
      this.arenaAt = carry.length
      this.replaceTail(arena.subarray(0, carry.length))
    }
    return this.arenaAt
  }

  /** Passes on `length` octets just copied to arena[at, ...): to the header scanner, the batch (growing its open last piece) and the collection. */
  private taken(arena: Buffer, at: number, length: number): void {
    const headers = this.headers
    if (headers !== null && !headers.done && headers.take(arena.subarray(at, at + length))) this.headersReady = true
    if (this.streaming) {
      const tail = this.openTailBefore(arena, at)
      if (tail !== null) {
        this.replaceTail(arena.subarray(tail.byteOffset - arena.byteOffset, at + length))
        this.batchLength += length
      } else this.batchPush(arena.subarray(at, at + length))
    }
    const collected = this.collected
    if (collected !== null) {
      const last = collected[collected.length - 1]
      if (last !== undefined && endsAt(last, arena, at)) {
        collected[collected.length - 1] = arena.subarray(last.byteOffset - arena.byteOffset, at + length)
      } else collected.push(arena.subarray(at, at + length))
      this.collectedLength += length
    }
  }

  /** The batch's last piece when it ends at arena[at], else null. */
  private openTailBefore(arena: Buffer, at: number): Buffer | null {
    const more = this.batchMore
    const last = more !== null ? more[more.length - 1] : this.batchFirst
    return last !== null && last !== undefined && endsAt(last, arena, at) ? last : null
  }

  private replaceTail(piece: Buffer): void {
    const more = this.batchMore
    if (more !== null) more[more.length - 1] = piece
    else this.batchFirst = piece
  }

  private batchPush(piece: Buffer): void {
    if (this.batchFirst === null) this.batchFirst = piece
    else if (this.batchMore === null) {
      // new Array() starts with room for four (V8); [piece] has room for one, then grows to 17 at
      // the next push (a 4 KiB message with a few dot lines is five or so pieces).
      this.batchMore = new Array<Buffer>()
      this.batchMore.push(piece)
    } else this.batchMore.push(piece)
    this.batchLength += piece.length
  }

  /** Drops batchMore[0, count) and makes `rest` (or else the next piece) the first one. */
  private shift(more: Buffer[], count: number, rest: Buffer | null): void {
    if (rest === null) rest = count < more.length ? (more[count++] as Buffer) : null
    if (count >= more.length) this.batchMore = null
    else more.splice(0, count)
    this.batchFirst = rest
  }

  /** Stops delivering the body: the message will be refused when its data ends. */
  stop(): void {
    this.decoder.discard()
    this.clearBatch()
    this.arena = null
    if (this.collected) this.collected.length = 0
    this.collectedLength = 0
    this.headersReady = false
  }

  private clearBatch(): void {
    this.batchFirst = null
    this.batchMore = null
    this.batchLength = 0
  }

  /** Why the message is refused, if it is: a bare line ending, then a long line, size, a listener. */
  get failure(): Reply | null {
    const fault = this.decoder.fault
    if (fault === 'bareLineEnding') return REPLIES.bareLineEnding
    if (fault === 'textLineTooLong') return REPLIES.textLineTooLong
    if (this.tooBig) return REPLIES.messageTooBig
    return this.refusal
  }
}
