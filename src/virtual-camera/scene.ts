/**
 * The scene in front of the virtual sensor: its light level and colour temperature drift slowly with the frame
 * number, so the camera's automatic exposure and white balance have something to follow (and change their
 * controls by themselves, as real ones do). Deterministic per frame, so frames are reproducible.
 */

/** Relative scene brightness around 1 (±20 %, a 300-frame period). */
export function sceneLight(sequence: number): number {
  return 1 + 0.2 * Math.sin((2 * Math.PI * sequence) / 300);
}

/** Colour temperature of the scene's light in kelvin (5000 K ± 600 K, a 450-frame period). */
export function sceneTemperature(sequence: number): number {
  return 5000 + 600 * Math.sin((2 * Math.PI * sequence) / 450);
}
