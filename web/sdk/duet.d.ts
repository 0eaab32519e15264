// Types for duet.js, the duet browser SDK.

/** What the token function is told; `refresh` is true after the server refused the last token. */
export interface TokenRequest {
  room: string;
  refresh: boolean;
}

export interface DuetCallOptions {
  /** WebSocket URL of the signaling server, e.g. `wss://host/WebRTCAppEE/websocket`. */
  url: string;
  /** Room (Ant Media `streamId`): two peers that join the same room are connected. */
  room: string;
  /** ICE servers to use. When given, the server is not asked (`getIceServerConfig` is skipped). */
  iceServers?: RTCIceServer[];
  /** Camera/microphone to send. Without it the call is receive-only (plus data) until addTrack. */
  localStream?: MediaStream | null;
  /** Open a data channel for `send()` and `message` events. Default true. */
  dataChannel?: boolean;
  /**
   * Room token sent with every join. A function is called for every (re)join; when a rejoin is
   * refused (`authenticationTokenNotValid`, `unauthorized_access`) after the call had been in the
   * room, it is called again with `refresh: true`, up to `tokenRetries` times.
   */
  token?: string | ((req: TokenRequest) => string | Promise<string>);
  /** Fresh tokens asked for one refused rejoin before the call gives up. Default 3. */
  tokenRetries?: number;
  /** This call's id, sent as `session` with every join. Default: 128 random bits. */
  session?: string;
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
  /** When the media path breaks, the socket must answer a ping this fast (ms) or is replaced. Default 750 (or 4 round trips, if less). */
  probeTimeout?: number;
  /** ICE `disconnected` for this long (ms) restarts ICE. Default 1000. */
  iceRestartGrace?: number;
  /**
   * Packets were arriving steadily and nothing came for this long (ms): the path is stalled; ICE restarts
   * and the socket is probed (it dies with the network the path used). A quiet path (little media) gets 3x its longest silence
   * of the last 5 s instead, so it is not restarted for being quiet. Default 400.
   */
  stallTimeout?: number;
  /** No media expected and not even an ICE check for this long (ms): the path is broken. Default 6000. */
  idleStallTimeout?: number;
  /** Still broken after an ICE restart: the next after this (ms), doubling. Default 1000. */
  iceRestartInterval?: number;
  /** The longest wait between ICE restarts (ms). Default 8000. */
  iceRestartMaxInterval?: number;
  /** The polite side restarts ICE itself only if the other did not within this (ms). Default 1500. */
  politeRestartDelay?: number;
  /**
   * The partner closed its connection without leaving the room (or ours was closed under us): unless it asks
   * for a new pairing within this (ms), this side does (a join with `restart: true`). Default 1000.
   */
  rebuildDelay?: number;
  /** A new pairing was asked for and no connection came of it within this (ms): the call shows `waiting`. Default 15000. */
  rebuildTimeout?: number;
  /**
   * Broken this long (ms), restarts and all: the peer connection is closed. With the partner still in the
   * room a new pairing is asked for (`callRestart`); otherwise `peerLeft`, reason `unreachable`. Default 30000.
   */
  peerTimeout?: number;
  /** Send `leave` when the page is closed or navigated away. Default true. */
  leaveOnPageHide?: boolean;
  /** Messages kept for the partner while the socket is down. Default 500. */
  maxQueued?: number;
  /**
   * Milliseconds between the call's quality reports to the server (and `quality` events).
   * Default 5000; 0 turns reports and local grading off.
   */
  qualityInterval?: number;
}

/** A grade of how one end receives the call. */
export type QualityLevel = 'good' | 'fair' | 'poor' | 'unknown';

/** What one end measured over the last interval (a qualityReport's fields). */
export interface QualityStats {
  /** Round-trip time of the selected candidate pair, ms. */
  rtt?: number;
  /** Jitter of received media, ms. */
  jitter?: number;
  /** Packets of received media lost in the interval, percent. */
  loss?: number;
  /** kbit/s received and sent on the selected pair. */
  bitrateIn?: number;
  bitrateOut?: number;
  framesDecoded?: number;
  framesDropped?: number;
  freezes?: number;
  localCandidate?: 'host' | 'srflx' | 'prflx' | 'relay';
  remoteCandidate?: 'host' | 'srflx' | 'prflx' | 'relay';
  /** How the local candidate reaches its peer (for a relay candidate: the TURN server). */
  transport?: 'udp' | 'tcp' | 'tls';
  iceRestarts?: number;
  resumes?: number;
  /** From this end's join (or the partner's arrival) to its peer connection's connection, ms. */
  setupMs?: number;
}

/**
 * The call as a person sees it: idle → connecting → waiting (in the room, alone) → negotiating →
 * connected; reconnecting while the media path is broken (or, with no peer connection, the socket);
 * closed after leave() or a fatal error. A lost socket alone never changes it while the peer
 * connection carries media: see `signaling`. (`failed` is no longer entered: a connection that
 * cannot be restored is closed, `peerLeft` with reason `unreachable`, and the call waits.)
 */
export type DuetState =
  | 'idle' | 'connecting' | 'waiting' | 'negotiating' | 'connected'
  | 'reconnecting' | 'failed' | 'closed';

/** The signaling socket: open means in the room. */
export type DuetSignalingState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Why the partner left (`stop` reasons, plus `replaced`, `unreachable` and `closed` decided here). */
export type PeerLeftReason =
  | 'left' | 'kicked' | 'closed' | 'timeout' | 'evicted' | 'nodeFailure' | 'replaced' | 'unreachable' | string;

export interface DuetEvents {
  /** The server confirmed the join (again after each reconnect); `resumed` when the held seat was taken back. */
  joined: { room: string; reconnected: boolean; resumed: boolean; peerSession: string | null };
  /** The peer connection is connected for the first time: media and data flow. */
  connected: { room: string };
  /**
   * The partner's track arrived (again, after it was stopped). `main` is its camera or microphone
   * (in `call.remoteStream`); otherwise `stream` is a stream of its own (a shared screen).
   */
  track: { track: MediaStreamTrack; streams: readonly MediaStream[]; stream: MediaStream; main: boolean; mid: string | null };
  /** The partner stopped sending a track (camera off, screen share ended). */
  trackEnded: { track: MediaStreamTrack; stream: MediaStream; main: boolean; mid: string | null };
  /** A data channel message from the peer. `text` is null for binary data. */
  message: { data: string | ArrayBuffer | Blob; text: string | null };
  /** The partner is gone and its peer connection closed; the call waits for a new partner. */
  peerLeft: { room: string; reason: PeerLeftReason };
  /**
   * The connection with the partner, still in the room, is rebuilt through the server: `local` when this side
   * gave it up (reason `unreachable` or `closed`) and asked for a new pairing, `remote` when the partner did
   * (stop with reason `restart`). A new peer connection follows; the state is `reconnecting` meanwhile.
   */
  callRestart: { room: string; initiator: 'local' | 'remote'; reason: string };
  /** The server holds the partner's seat while it reconnects (up to `grace` ms). */
  peerReconnecting: { room: string; grace: number };
  /** The partner took its held seat back. */
  peerReconnected: { room: string };
  /** The server let the partner go (`stop` with `reason`) but the peer connection still carries media: kept. */
  peerSignalingLost: { room: string; reason: string };
  /** The media path broke: ICE restarts follow, the socket is checked. */
  mediaTrouble: { reason: string };
  /** The media path works again, `after` ms after it broke. */
  mediaRecovered: { after: number };
  /** An ICE restart started (`reason`: stalled, disconnected, failed, interfaceGone, online, networkChange, signalingBack, turnServerGone, turnCredentials, manual). */
  iceRestart: { reason: string };
  /** Offers that crossed: `ignoredOffer` (impolite side) or `withdrawnOffer` (polite side); `resentOffer` after a lost socket. */
  negotiation: { event: string };
  /** The call ended for good (`reason`: `left`, the fatal error definition, `tokenUnavailable`, or `error` after `invalidUrl`). */
  closed: { reason: string; error?: DuetError };
  /**
   * Something went wrong: a server error definition (`NoSpaceForNewPeer`, …) or one of the SDK's own:
   * `invalidUrl`, `tokenUnavailable`, `negotiationFailed`, `internal`. `retrying` when a refused token
   * is being replaced. Which ones end the call: web/README.md, "Errors".
   */
  error: { definition: string; room?: string; error?: DuetError | unknown; message?: string; retrying?: boolean };
  /** The call's state changed. */
  state: { state: DuetState; previous: DuetState };
  /** The signaling socket's state changed. */
  signaling: { state: DuetSignalingState; previous: DuetSignalingState };
  /** The socket was lost; the next attempt starts after `delay` ms. The peer connection stays. */
  reconnecting: { attempt: number; delay: number; reason: string };
  /** The server is draining; the call moves to a new socket. */
  serverWillStop: {};
  channelOpen: {};
  channelClose: {};
  /** RTCPeerConnection.connectionState changed. */
  connectionState: { state: RTCPeerConnectionState };
  /** A peerMessageCommand relayed from the peer. */
  peerMessage: { definition: string; data: unknown };
  /**
   * The call's quality, after each own measurement and each report of the partner's (relayed by the
   * server): `local` grades what this end receives, `remote` what the partner receives (unknown
   * until it reports; duet's SDKs do, the Ant Media SDKs do not), `level` the worse of the two.
   */
  quality: {
    level: QualityLevel; local: QualityLevel; remote: QualityLevel;
    stats: QualityStats | null; partner: (QualityStats & { level: QualityLevel }) | null;
  };
  /** Every signaling message, in and out (for debugging). */
  signal: { dir: 'in' | 'out'; msg: Record<string, unknown> };
}

export interface DuetCounters {
  offers: number;
  answers: number;
  collisions: number;
  ignoredOffers: number;
  withdrawnOffers: number;
  iceRestarts: number;
}

export declare class DuetCall extends EventTarget {
  constructor(options: DuetCallOptions);
  readonly url: string;
  readonly room: string;
  readonly state: DuetState;
  readonly signaling: DuetSignalingState;
  /** This call's session id (sent with every join). */
  readonly session: string;
  /** The partner's session, when it sent one. */
  readonly peerSession: string | null;
  /** The newest resume token (from the last `joined`). */
  readonly resumeToken: string | null;
  /** How many times the socket was reopened. */
  readonly reconnects: number;
  localStream: MediaStream | null;
  /** The partner's camera and microphone (a new stream per peer connection). */
  readonly remoteStream: MediaStream | null;
  readonly pc: RTCPeerConnection | null;
  readonly channel: RTCDataChannel | null;
  /** Negotiation counters of the current peer connection. */
  readonly counters: DuetCounters | null;
  /** Opens the socket and joins; resolves on the first `joined`, rejects on a fatal error or leave(). */
  connect(): Promise<void>;
  /** Sends `leave` and closes the call for good. */
  leave(): void;
  /** Sends over the data channel; throws when it is not open. */
  send(data: string | ArrayBuffer | ArrayBufferView | Blob): void;
  /** Sends a peerMessageCommand through the server (kept while the socket reconnects). */
  sendPeerMessage(definition: string, data: unknown): void;
  /**
   * Sends track, negotiated on the current connection. With `stream` omitted or `call.localStream`
   * it is the camera or microphone (it takes the place of one removed before); any other stream
   * (a screen) is sent alongside.
   */
  addTrack(track: MediaStreamTrack, stream?: MediaStream): RTCRtpSender | null | undefined;
  /** Stops sending track; the partner gets `trackEnded`. */
  removeTrack(track: MediaStreamTrack): boolean;
  /** Restarts ICE now, on the same connection. */
  restartIce(): void;
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

/**
 * Plays a media element as the browser's autoplay policy allows: with sound ('playing'), else muted
 * ('muted': unmute from a user gesture), else not until a user gesture calls play() ('blocked').
 * 'aborted': a newer load interrupted it.
 */
export declare function playMedia(el: HTMLMediaElement): Promise<'playing' | 'muted' | 'blocked' | 'aborted'>;

/** The `a=fingerprint` of an SDP (lower case), or ''. */
export declare function fingerprint(sdp: string | null | undefined): string;

export interface DuetMeshOptions extends Omit<DuetCallOptions, 'localStream'> {
  localStream?: MediaStream | null;
  /** The room's limit asked for if this member is its first joiner (capped by the server's max_peers) [4]. */
  maxPeers?: number;
  /** Uplink budget in bits/s: every outgoing video is capped at uplinkBitrate / (members − 1). */
  uplinkBitrate?: number;
}

/** A member's event: the detail of the member's DuetCall event, and `peer`, the member's id. */
export type DuetMeshEvents = {
  [K in keyof DuetEvents]: DuetEvents[K] & { peer: string };
} & {
  joined: { room: string; id: string; maxPeers: number; peers: { id: string; session?: string; reconnecting?: boolean }[]; reconnected: boolean; resumed: boolean };
  /** The mesh's own state ('connecting', 'joined', 'reconnecting', 'closed'); a member's call's is `peerState`. */
  state: { state: string; previous: string; mesh: true };
  peerState: { state: DuetState; previous: DuetState; peer: string };
  peerJoined: { peer: string; peerSession: string | null };
  peerGone: { peer: string };
  /** A member came back under a new id (the server lost its state): its call is kept. */
  peerRenamed: { from: string; to: string };
};

/**
 * A group call in a mesh room (docs/protocol.md, "Mesh rooms"): one DuetCall per other member, over one
 * socket. In a room of two (a server or app without mesh rooms) it is a call with the one partner (peer '').
 */
export declare class DuetMesh extends EventTarget {
  constructor(options: DuetMeshOptions);
  readonly url: string;
  readonly room: string;
  readonly session: string;
  /** Our member id ('' in a room of two; null before the first `joined`). */
  readonly id: string | null;
  /** The room's limit as the server said (2: a room of two). */
  readonly maxPeers: number;
  /** The other members' calls, by member id. */
  readonly peers: Map<string, DuetCall>;
  localStream: MediaStream | null;
  connect(): Promise<void>;
  leave(): void;
  /** Sends over every open data channel; returns how many members it went to. */
  send(data: string | ArrayBuffer | ArrayBufferView | Blob): number;
  sendPeerMessage(definition: string, data: unknown): void;
  setUplinkBitrate(bps: number): void;
  on<K extends keyof DuetMeshEvents>(name: K, fn: (detail: DuetMeshEvents[K], event: CustomEvent<DuetMeshEvents[K]>) => void): () => void;
}
