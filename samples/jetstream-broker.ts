// Connecting the JetStream samples to NATS: one connection that keeps reconnecting (to any
// cluster member), and the stream and object store bucket, created when missing.

import { jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import { Objm, type ObjectStore } from '@nats-io/obj'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import type { BrokerConfig } from './jetstream-flags.js'

/** An open connection with its JetStream handles and the bodies bucket. */
export interface Broker {
  readonly connection: NatsConnection
  readonly jetstream: JetStreamClient
  readonly manager: JetStreamManager
  readonly bodies: ObjectStore
}

/**
 * Connects (waiting for a first server if none is up yet; reconnecting for ever after) and makes
 * sure the stream and the bucket exist: with `replicas` it creates what is missing with that many
 * replicas; with null (the consumer, which cannot know the right count) a missing one is an error.
 */
export async function openBroker(config: BrokerConfig, name: string, replicas: number | null): Promise<Broker> {
  const connection = await connect({ servers: [...config.servers], name, maxReconnectAttempts: -1, waitOnFirstConnect: true })
  const manager = await jetstreamManager(connection)
  try {
    await manager.streams.info(config.stream)
  } catch (error) {
    if (!(error instanceof JetStreamApiError) || error.code !== JetStreamApiCodes.StreamNotFound) throw error
    if (replicas === null) throw new Error(`stream ${config.stream} does not exist yet: start a front end first`)
    // Another front end may create it at the same moment: adding the same config twice is allowed.
    await manager.streams.add({ name: config.stream, subjects: [config.subject], num_replicas: replicas })
  }
  const client = jetstream(connection)
  const objects = new Objm(client)
  const bodies = replicas === null ? await objects.open(config.bucket) : await objects.create(config.bucket, { replicas })
  return { connection, jetstream: client, manager, bodies }
}
