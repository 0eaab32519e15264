// Types for duet.js, the duet browser SDK.

export interface DuetCallOptions {
  /** WebSocket URL of the signaling server, e.g. `wss://host/WebRTCAppEE/websocket`. */
  url: string;
  /** Room (Ant Media `streamId`): two peers that join the same room are connected. */
  room: string;
  /** ICE servers to use. When given, the server is not asked (`getIceServerConfig` is skipped). */
  iceServers?: RTCIceServer[];
  /** Camera/microphone to send. Without it the call is receive-only (plus data). */
  localStream?: MediaStream | null;
  /** Open a data channel for `send()` and `message` events. Default true. */
  dataChannel?: boolean;
  /** Token sent with `join` when the server requires one. */
  token?: string;
  /** Extra RTCPeerConnection settings; `iceServers` here is overridden. */
  rtcConfig?: RTCConfiguration;
  /** Application ping interval in ms. Default 3000. */
  pingInterval?: number;
  /** Reconnect when nothing was received for this long (ms). Default 10000. */
  pongTimeout?: number;
  /** First reconnect delay in ms; doubles per failed attempt, with jitter. Default 500. */
  minReconnectDelay?: number;
  /** Largest reconnect delay in ms. Default 15000. */
  maxReconnectDelay?: number;
}

/**
 * idle → connecting → waiting (joined, alone) → negotiating → connected;
 * reconnecting after a lost socket; failed when ICE fails; closed after leave() or a fatal error.
 */
export type DuetState =
  | 'idle' | 'connecting' | 'waiting' | 'negotiating' | 'connected'
  | 'reconnecting' | 'failed' | 'closed';

export interface DuetEvents {
  /** The server confirmed the join (again after each reconnect). */
  joined: { room: string; reconnected: boolean };
  /** The peer connection is connected: media and data flow. */
  connected: { room: string };
  /** A remote track arrived; `stream` is `call.remoteStream`. */
  track: { track: MediaStreamTrack; streams: readonly MediaStream[]; stream: MediaStream };
  /** A data channel message from the peer. `text` is null for binary data. */
  message: { data: string | ArrayBuffer | Blob; text: string | null };
  /** The peer left or disconnected; the call waits for a new partner. */
  peerLeft: { room: string };
  /** The call ended for good (`reason`: `left`, or the fatal error definition). */
  closed: { reason: string; error?: DuetError };
  /** The server sent an error; `definition` is its wire name, e.g. `NoSpaceForNewPeer`. */
  error: { definition: string; room?: string; error?: DuetError; message?: string };
  /** The call's state changed. */
  state: { state: DuetState; previous: DuetState };
  /** The socket was lost; the next attempt starts after `delay` ms. */
  reconnecting: { attempt: number; delay: number };
  /** The server is draining; the call moves to a new socket. */
  serverWillStop: {};
  channelOpen: {};
  channelClose: {};
  /** RTCPeerConnection.connectionState changed. */
  connectionState: { state: RTCPeerConnectionState };
  /** A peerMessageCommand relayed from the peer. */
  peerMessage: { definition: string; data: unknown };
}

export declare class DuetCall extends EventTarget {
  constructor(options: DuetCallOptions);
  readonly url: string;
  readonly room: string;
  readonly state: DuetState;
  /** How many times the socket was reopened. */
  readonly reconnects: number;
  localStream: MediaStream | null;
  /** The peer's tracks (a new stream per peer connection). */
  readonly remoteStream: MediaStream | null;
  readonly pc: RTCPeerConnection | null;
  readonly channel: RTCDataChannel | null;
  /** Opens the socket and joins; resolves on the first `joined`, rejects on a fatal error or leave(). */
  connect(): Promise<void>;
  /** Sends `leave` and closes the call for good. */
  leave(): void;
  /** Sends over the data channel; throws when it is not open. */
  send(data: string | ArrayBuffer | ArrayBufferView | Blob): void;
  /** Sends a peerMessageCommand through the server. */
  sendPeerMessage(definition: string, data: unknown): void;
  /** Subscribes to an event with its detail; returns an unsubscribe function. */
  on<K extends keyof DuetEvents>(name: K, fn: (detail: DuetEvents[K], event: CustomEvent<DuetEvents[K]>) => void): () => void;
}

export declare class DuetError extends Error {
  readonly definition: string;
  readonly room?: string;
}

/** Converts an `iceServerConfig` message into RTCIceServer entries. */
export declare function iceServersFrom(msg: {
  stunServerUri?: string;
  turnServerUsername?: string;
  turnServerCredential?: string;
  iceServers?: RTCIceServer[];
}): RTCIceServer[];
