// Microphone capture (24 kHz mono PCM16 through an AudioWorklet) and playback of the model's
// PCM16 audio deltas, scheduled back to back.

const SAMPLE_RATE = 24000;

export function base64FromBytes(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function bytesFromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export class AudioIO {
  constructor() {
    this.context = null;
    this.stream = null;
    this.source = null;
    this.node = null;
    this.playing = new Set();
    this.playhead = 0;
  }

  /** Start the microphone; `onChunk(ArrayBuffer)` gets 100 ms of PCM16 at a time. */
  async start(onChunk) {
    if (this.context) return;
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, sampleRate: SAMPLE_RATE, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    this.context = new AudioContext({ sampleRate: SAMPLE_RATE });
    await this.context.audioWorklet.addModule(new URL("./pcm-worklet.js", import.meta.url));
    this.source = this.context.createMediaStreamSource(this.stream);
    this.node = new AudioWorkletNode(this.context, "pcm16-capture", { numberOfInputs: 1, numberOfOutputs: 0 });
    this.node.port.onmessage = (event) => onChunk(event.data);
    this.source.connect(this.node);
    await this.context.resume();
  }

  /** Queue one `response.audio.delta` (base64 PCM16, 24 kHz mono) for playback. */
  play(base64) {
    if (!this.context) return;
    const bytes = bytesFromBase64(base64);
    const samples = new Int16Array(bytes.buffer, 0, Math.floor(bytes.length / 2));
    if (!samples.length) return;
    const buffer = this.context.createBuffer(1, samples.length, SAMPLE_RATE);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < samples.length; i += 1) channel[i] = samples[i] / 0x8000;
    const source = this.context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.context.destination);
    const at = Math.max(this.context.currentTime + 0.02, this.playhead);
    source.start(at);
    this.playhead = at + buffer.duration;
    this.playing.add(source);
    source.onended = () => this.playing.delete(source);
  }

  /** Stop what is playing (the person started talking: barge-in). */
  flush() {
    for (const source of this.playing) {
      try {
        source.stop();
      } catch {
        /* already stopped */
      }
    }
    this.playing.clear();
    this.playhead = 0;
  }

  async stop() {
    this.flush();
    this.source?.disconnect();
    this.node?.port.close();
    this.stream?.getTracks().forEach((track) => track.stop());
    const context = this.context;
    this.context = this.stream = this.source = this.node = null;
    if (context) await context.close().catch(() => {});
  }
}
