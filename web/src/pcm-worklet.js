// AudioWorklet processor: microphone samples (Float32, the context's 24 kHz) to PCM16 chunks of
// 100 ms, posted to the main thread as transferable ArrayBuffers.

const CHUNK_SAMPLES = 2400; // 100 ms at 24 kHz

class Pcm16Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.buffer = new Int16Array(CHUNK_SAMPLES);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) {
      for (let i = 0; i < channel.length; i += 1) {
        const sample = Math.max(-1, Math.min(1, channel[i]));
        this.buffer[this.filled] = sample < 0 ? sample * 0x8000 : sample * 0x7fff;
        this.filled += 1;
        if (this.filled === CHUNK_SAMPLES) {
          const chunk = this.buffer.buffer;
          this.port.postMessage(chunk, [chunk]);
          this.buffer = new Int16Array(CHUNK_SAMPLES);
          this.filled = 0;
        }
      }
    }
    return true;
  }
}

registerProcessor("pcm16-capture", Pcm16Capture);
