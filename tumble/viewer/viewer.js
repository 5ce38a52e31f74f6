// tumble viewer: draws a tumble model's geoms with WebGL2 and plays a trajectory
// (or, in live mode, follows a simulation served by `tumble view`).
// Self-contained: no network request except, in live mode, to the page's own server.
"use strict";
(() => {
  // ---------------------------------------------------------------- math
  // 4x4 matrices are column-major Float32Arrays, as WebGL expects.
  const V = {
    sub: (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]],
    add: (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]],
    scale: (a, s) => [a[0] * s, a[1] * s, a[2] * s],
    dot: (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2],
    cross: (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]],
    norm: (a) => { const n = Math.hypot(a[0], a[1], a[2]) || 1; return [a[0] / n, a[1] / n, a[2] / n]; },
  };
  const M = {
    mul(a, b) {
      const o = new Float32Array(16);
      for (let c = 0; c < 4; c++)
        for (let r = 0; r < 4; r++) {
          let s = 0;
          for (let k = 0; k < 4; k++) s += a[k * 4 + r] * b[c * 4 + k];
          o[c * 4 + r] = s;
        }
      return o;
    },
    perspective(fovy, aspect, near, far) {
      const f = 1 / Math.tan((fovy * Math.PI) / 360), o = new Float32Array(16);
      o[0] = f / aspect; o[5] = f; o[10] = (far + near) / (near - far); o[11] = -1;
      o[14] = (2 * far * near) / (near - far);
      return o;
    },
    ortho(h, near, far) {
      const o = new Float32Array(16);
      o[0] = 1 / h; o[5] = 1 / h; o[10] = -2 / (far - near); o[14] = -(far + near) / (far - near); o[15] = 1;
      return o;
    },
    // View matrix of an eye with right/up/back axes (columns of the camera frame).
    view(eye, right, up, back) {
      return new Float32Array([
        right[0], up[0], back[0], 0, right[1], up[1], back[1], 0, right[2], up[2], back[2], 0,
        -V.dot(right, eye), -V.dot(up, eye), -V.dot(back, eye), 1,
      ]);
    },
    // Rigid pose (p, unit quaternion q = w,x,y,z) times a per-axis scale.
    pose(p, q, s) {
      const r = quatMat(q);
      return new Float32Array([
        r[0] * s[0], r[1] * s[0], r[2] * s[0], 0, r[3] * s[1], r[4] * s[1], r[5] * s[1], 0,
        r[6] * s[2], r[7] * s[2], r[8] * s[2], 0, p[0], p[1], p[2], 1,
      ]);
    },
  };
  // Column-major 3x3 rotation of a (w, x, y, z) quaternion.
  function quatMat(q) {
    const [w, x, y, z] = q;
    return [
      1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y),
      2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x),
      2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y),
    ];
  }
  const quatMul = (a, b) => [
    a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3],
    a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2],
    a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1],
    a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0],
  ];
  const rotate = (q, v) => { const r = quatMat(q); return [r[0] * v[0] + r[3] * v[1] + r[6] * v[2], r[1] * v[0] + r[4] * v[1] + r[7] * v[2], r[2] * v[0] + r[5] * v[1] + r[8] * v[2]]; };

  // ---------------------------------------------------------------- data
  async function inflate(b64) {
    const bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer();
  }
  const TYPED = { f4: Float32Array, i2: Int16Array, u2: Uint16Array, u4: Uint32Array, f2: Uint16Array };
  function view(buf, e) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    return new TYPED[e.dtype](buf, e.offset, n);
  }
  function half(h) {  // IEEE float16 bits to number
    const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, f = h & 1023;
    if (e === 0) return s * f * 2 ** -24;
    if (e === 31) return f ? NaN : s * Infinity;
    return s * (1 + f / 1024) * 2 ** (e - 15);
  }
  // Undo the frame-to-frame differences of int16 codes (with int16 wrap-around).
  function undelta(codes, frames) {
    const per = codes.length / frames, out = new Int16Array(codes.length);
    for (let i = 0; i < per; i++) out[i] = codes[i];
    for (let i = per; i < codes.length; i++) out[i] = (out[i - per] + codes[i]) << 16 >> 16;
    return out;
  }
  function dequant(codes, bounds) {
    const [lo, hi] = bounds, out = new Float32Array(codes.length);
    for (let i = 0; i < codes.length; i++) {
      const a = i % 3;
      out[i] = lo[a] + ((codes[i] + 32768) / 65535) * Math.max(hi[a] - lo[a], 1e-9);
    }
    return out;
  }
  function decodeTrajectory(t, buf, nbody) {
    const frames = t.frames;
    const pos = dequant(undelta(view(buf, t.pos), frames), t.bounds);
    const rc = undelta(view(buf, t.rot), frames), rot = new Float32Array(rc.length);
    for (let i = 0; i < rc.length; i++) rot[i] = rc[i] / 32767;
    const traj = { frames, nbody, time: Float32Array.from(view(buf, t.time)), pos, rot, contacts: null };
    if (t.contacts) {
      const c = t.contacts, count = view(buf, c.count), start = new Uint32Array(frames + 1);
      for (let i = 0; i < frames; i++) start[i + 1] = start[i] + count[i];
      const fbits = view(buf, c.force), force = new Float32Array(fbits.length);
      for (let i = 0; i < fbits.length; i++) force[i] = half(fbits[i]);
      traj.contacts = { start, pos: dequant(view(buf, c.pos), c.bounds), force };
    }
    return traj;
  }
  // The poses (and contacts) at time t, interpolated between the two frames around it.
  function sample(traj, t) {
    const T = traj.time;
    let i = 0, j = T.length - 1;
    if (t <= T[0]) j = 0;
    else if (t >= T[j]) i = j;
    else { while (j - i > 1) { const m = (i + j) >> 1; if (T[m] <= t) i = m; else j = m; } }
    const a = i === j ? 0 : (t - T[i]) / (T[j] - T[i]);
    const n = traj.nbody, pos = new Float32Array(n * 3), rot = new Float32Array(n * 4);
    for (let k = 0; k < n * 3; k++) pos[k] = traj.pos[i * n * 3 + k] * (1 - a) + traj.pos[j * n * 3 + k] * a;
    for (let b = 0; b < n; b++) {
      const qi = traj.rot.subarray((i * n + b) * 4, (i * n + b) * 4 + 4), qj = traj.rot.subarray((j * n + b) * 4, (j * n + b) * 4 + 4);
      const sgn = qi[0] * qj[0] + qi[1] * qj[1] + qi[2] * qj[2] + qi[3] * qj[3] < 0 ? -1 : 1;
      let q = [0, 1, 2, 3].map((k) => qi[k] * (1 - a) + sgn * qj[k] * a);
      const len = Math.hypot(...q) || 1;
      rot.set(q.map((v) => v / len), b * 4);
    }
    let contacts = null;
    if (traj.contacts) {
      const c = traj.contacts, k = a < 0.5 ? i : j;
      contacts = { pos: c.pos.subarray(c.start[k] * 3, c.start[k + 1] * 3), force: c.force.subarray(c.start[k] * 3, c.start[k + 1] * 3) };
    }
    return { pos, rot, contacts, frame: a < 0.5 ? i : j };
  }

  // ---------------------------------------------------------------- meshes
  // Each builder returns positions, normals and triangle indices.
  function sphereMesh(nu = 24, nv = 16, zoff = 0, zsign = 0) {
    // zsign 0: full sphere; +1/-1: that hemisphere only, shifted by zoff along z.
    const p = [], n = [], idx = [];
    const v0 = zsign > 0 ? 0 : zsign < 0 ? nv / 2 : 0, v1 = zsign > 0 ? nv / 2 : nv;
    for (let v = v0; v <= v1; v++) {
      const th = (v / nv) * Math.PI;
      for (let u = 0; u <= nu; u++) {
        const ph = (u / nu) * 2 * Math.PI, d = [Math.sin(th) * Math.cos(ph), Math.sin(th) * Math.sin(ph), Math.cos(th)];
        n.push(...d); p.push(d[0], d[1], d[2] + zoff);
      }
    }
    const rows = v1 - v0;
    for (let v = 0; v < rows; v++)
      for (let u = 0; u < nu; u++) {
        const a = v * (nu + 1) + u, b = a + nu + 1;
        idx.push(a, b, a + 1, a + 1, b, b + 1);
      }
    return { p, n, idx };
  }
  function merge(...parts) {
    const out = { p: [], n: [], idx: [] };
    for (const m of parts) {
      const base = out.p.length / 3;
      out.p.push(...m.p); out.n.push(...m.n); out.idx.push(...m.idx.map((i) => i + base));
    }
    return out;
  }
  function tubeMesh(r, h, nu = 24) {
    const p = [], n = [], idx = [];
    for (let u = 0; u <= nu; u++) {
      const ph = (u / nu) * 2 * Math.PI, c = Math.cos(ph), s = Math.sin(ph);
      p.push(r * c, r * s, h, r * c, r * s, -h); n.push(c, s, 0, c, s, 0);
    }
    for (let u = 0; u < nu; u++) { const a = 2 * u; idx.push(a, a + 1, a + 2, a + 2, a + 1, a + 3); }
    return { p, n, idx };
  }
  function diskMesh(z, sign, nu = 24) {
    const p = [0, 0, z], n = [0, 0, sign], idx = [];
    for (let u = 0; u <= nu; u++) { const ph = (u / nu) * 2 * Math.PI; p.push(Math.cos(ph), Math.sin(ph), z); n.push(0, 0, sign); }
    for (let u = 1; u <= nu; u++) idx.push(0, u, u + 1);
    return { p, n, idx };
  }
  function capsuleMesh(r, h) {
    const cap = (sign) => { const m = sphereMesh(24, 16, 0, sign); return { p: m.p.map((v, i) => (i % 3 === 2 ? v * r + sign * h : v * r)), n: m.n, idx: m.idx }; };
    return merge(tubeMesh(r, h), cap(1), cap(-1));
  }
  function boxMesh() {
    const p = [], n = [], idx = [];
    for (let axis = 0; axis < 3; axis++)
      for (const s of [-1, 1]) {
        const u = (axis + 1) % 3, w = (axis + 2) % 3, base = p.length / 3;
        for (const [a, b] of [[-1, -1], [1, -1], [1, 1], [-1, 1]]) {
          const v = [0, 0, 0], d = [0, 0, 0];
          v[axis] = s; v[u] = a; v[w] = b; d[axis] = s;
          p.push(...v); n.push(...d);
        }
        idx.push(base, base + 1, base + 2, base, base + 2, base + 3);
      }
    return { p, n, idx };
  }
  const planeMesh = () => ({ p: [-1, -1, 0, 1, -1, 0, 1, 1, 0, -1, 1, 0], n: [0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1], idx: [0, 1, 2, 0, 2, 3] });
  function customMesh(vert, face) {  // flat shading: every triangle gets its own vertices
    const p = [], n = [], idx = [];
    for (let f = 0; f < face.length; f += 3) {
      const a = [0, 1, 2].map((k) => Array.from(vert.subarray(face[f + k] * 3, face[f + k] * 3 + 3)));
      const d = V.norm(V.cross(V.sub(a[1], a[0]), V.sub(a[2], a[0])));
      for (const v of a) { p.push(...v); n.push(...d); idx.push(idx.length); }
    }
    return { p, n, idx };
  }

  // ---------------------------------------------------------------- GL
  const LIT_VS = `#version 300 es
layout(location=0) in vec3 aPos; layout(location=1) in vec3 aNrm;
uniform mat4 uModel, uViewProj, uLightVP; uniform vec3 uScale;
out vec3 vNrm, vWorld, vObj; out vec4 vLight;
void main() {
  vec4 w = uModel * vec4(aPos, 1.0);
  vWorld = w.xyz; vObj = aPos * uScale; vLight = uLightVP * w;
  vNrm = mat3(uModel) * (aNrm / (uScale * uScale));  // (R S)^-T n = R S^-1 n
  gl_Position = uViewProj * w;
}`;
  const LIT_FS = `#version 300 es
precision highp float;
in vec3 vNrm, vWorld, vObj; in vec4 vLight;
uniform vec4 uColor; uniform vec3 uLight, uEye, uSky, uTint; uniform float uGrid, uFogFar;
uniform highp sampler2D uShadow;
out vec4 outColor;
float lit() {
  vec3 p = vLight.xyz / vLight.w * 0.5 + 0.5;
  if (p.x <= 0.0 || p.x >= 1.0 || p.y <= 0.0 || p.y >= 1.0 || p.z >= 1.0) return 1.0;
  vec2 texel = 1.0 / vec2(textureSize(uShadow, 0));
  float sum = 0.0;
  for (int i = -1; i <= 1; i++)
    for (int j = -1; j <= 1; j++) sum += p.z - 0.003 > texture(uShadow, p.xy + vec2(i, j) * texel).r ? 0.0 : 1.0;
  return sum / 9.0;
}
void main() {
  vec3 n = normalize(vNrm);
  if (!gl_FrontFacing) n = -n;
  vec3 base = uColor.rgb;
  if (uGrid > 0.0) { vec2 c = floor(vObj.xy / uGrid); base *= 1.0 - 0.12 * mod(c.x + c.y, 2.0); }
  float s = lit();
  float diff = max(dot(n, uLight), 0.0) * mix(0.45, 1.0, s);
  vec3 v = normalize(uEye - vWorld);
  float spec = pow(max(dot(n, normalize(uLight + v)), 0.0), 40.0) * 0.25 * s * (uGrid > 0.0 ? 0.0 : 1.0);
  vec3 color = base * (0.35 + 0.65 * diff) + spec + uTint;
  float fog = smoothstep(0.5 * uFogFar, uFogFar, length(uEye - vWorld));
  outColor = vec4(mix(color, uSky, fog), uColor.a);
}`;
  const FLAT_VS = `#version 300 es
layout(location=0) in vec3 aPos; uniform mat4 uMVP;
void main() { gl_Position = uMVP * vec4(aPos, 1.0); }`;
  const FLAT_FS = `#version 300 es
precision highp float; uniform vec4 uColor; out vec4 outColor;
void main() { outColor = uColor; }`;
  const LIGHT = V.norm([0.3, -0.45, 0.84]);
  const SKY = [0.78, 0.84, 0.9];
  const SHADOW_SIZE = 2048;
  const PLANE_HALF = 60;  // half-size drawn for infinite planes (size 0)
  const TYPE = { PLANE: 0, HFIELD: 1, SPHERE: 2, CAPSULE: 3, ELLIPSOID: 4, CYLINDER: 5, BOX: 6, MESH: 7 };

  function program(gl, vs, fs) {
    const prog = gl.createProgram();
    for (const [type, src] of [[gl.VERTEX_SHADER, vs], [gl.FRAGMENT_SHADER, fs]]) {
      const sh = gl.createShader(type);
      gl.shaderSource(sh, src); gl.compileShader(sh);
      if (!gl.getShaderParameter(sh, gl.COMPILE_STATUS)) throw new Error("shader: " + gl.getShaderInfoLog(sh));
      gl.attachShader(prog, sh);
    }
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error("program: " + gl.getProgramInfoLog(prog));
    const u = {}, count = gl.getProgramParameter(prog, gl.ACTIVE_UNIFORMS);
    for (let i = 0; i < count; i++) { const name = gl.getActiveUniform(prog, i).name; u[name] = gl.getUniformLocation(prog, name); }
    return { prog, u };
  }
  function upload(gl, m) {
    const vao = gl.createVertexArray();
    gl.bindVertexArray(vao);
    for (const [loc, data] of [[0, m.p], [1, m.n]]) {
      const b = gl.createBuffer();
      gl.bindBuffer(gl.ARRAY_BUFFER, b); gl.bufferData(gl.ARRAY_BUFFER, new Float32Array(data), gl.STATIC_DRAW);
      gl.enableVertexAttribArray(loc); gl.vertexAttribPointer(loc, 3, gl.FLOAT, false, 0, 0);
    }
    const ib = gl.createBuffer();
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, ib); gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, new Uint32Array(m.idx), gl.STATIC_DRAW);
    gl.bindVertexArray(null);
    return { vao, count: m.idx.length };
  }

  class Renderer {
    constructor(canvas) {
      const gl = canvas.getContext("webgl2", { antialias: true });
      if (!gl) throw new Error("this browser has no WebGL2: the viewer needs it");
      this.gl = gl; this.canvas = canvas;
      this.lit = program(gl, LIT_VS, LIT_FS);
      this.flat = program(gl, FLAT_VS, FLAT_FS);
      this.shapes = { sphere: upload(gl, sphereMesh()), box: upload(gl, boxMesh()), plane: upload(gl, planeMesh()),
        cylinder: upload(gl, merge(tubeMesh(1, 1), diskMesh(1, 1), diskMesh(-1, -1))) };
      this.lineBuf = gl.createBuffer();
      this.lineVao = gl.createVertexArray();
      gl.bindVertexArray(this.lineVao);
      gl.bindBuffer(gl.ARRAY_BUFFER, this.lineBuf);
      gl.enableVertexAttribArray(0); gl.vertexAttribPointer(0, 3, gl.FLOAT, false, 0, 0);
      gl.bindVertexArray(null);
      this.shadowTex = gl.createTexture();
      gl.bindTexture(gl.TEXTURE_2D, this.shadowTex);
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.DEPTH_COMPONENT24, SHADOW_SIZE, SHADOW_SIZE, 0, gl.DEPTH_COMPONENT, gl.UNSIGNED_INT, null);
      for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
      for (const p of [gl.TEXTURE_WRAP_S, gl.TEXTURE_WRAP_T]) gl.texParameteri(gl.TEXTURE_2D, p, gl.CLAMP_TO_EDGE);
      this.shadowFbo = gl.createFramebuffer();
      gl.bindFramebuffer(gl.FRAMEBUFFER, this.shadowFbo);
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.DEPTH_ATTACHMENT, gl.TEXTURE_2D, this.shadowTex, 0);
      gl.bindFramebuffer(gl.FRAMEBUFFER, null);
      this.pickFbo = null; this.pickSize = [0, 0];
      this.items = [];
    }
    // Geometry of a scene header (and the blob holding mesh data).
    setScene(scene, buf) {
      for (const it of this.items) if (it.own) this.gl.deleteVertexArray(it.mesh.vao);
      this.items = [];
      this.nbody = scene.bodies.length;
      this.forceScale = scene.force_scale;
      this.extent = 1;
      for (const g of scene.geoms) {
        if (g.rgba[3] <= 0 || g.type === TYPE.HFIELD) continue;
        const s = g.size;
        let mesh, scale = [1, 1, 1], own = false, grid = 0;
        switch (g.type) {
          case TYPE.PLANE:
            mesh = this.shapes.plane; scale = [s[0] > 0 ? s[0] : PLANE_HALF, s[1] > 0 ? s[1] : PLANE_HALF, 1];
            grid = Math.max(s[2] > 0 ? 2 * s[2] : 1, 0.1); break;
          case TYPE.SPHERE: mesh = this.shapes.sphere; scale = [s[0], s[0], s[0]]; break;
          case TYPE.ELLIPSOID: mesh = this.shapes.sphere; scale = s.slice(); break;
          case TYPE.BOX: mesh = this.shapes.box; scale = s.slice(); break;
          case TYPE.CYLINDER: mesh = this.shapes.cylinder; scale = [s[0], s[0], s[1]]; break;
          case TYPE.CAPSULE: mesh = upload(this.gl, capsuleMesh(s[0], s[1])); own = true; break;
          case TYPE.MESH:
            if (!g.mesh) continue;
            mesh = upload(this.gl, customMesh(view(buf, g.mesh.vert), view(buf, g.mesh.face))); own = true; break;
          default: continue;
        }
        if (g.type !== TYPE.PLANE) this.extent = Math.max(this.extent, Math.hypot(...g.pos) + Math.max(...scale));
        this.items.push({ geom: g, mesh, scale, own, grid, plane: g.type === TYPE.PLANE });
      }
    }
    // World matrix of each drawable at body poses (pos, rot).
    matrices(frame) {
      return this.items.map((it) => {
        const g = it.geom;
        let p = g.pos, q = g.quat;
        if (g.body >= 0) {
          const bp = Array.from(frame.pos.subarray(g.body * 3, g.body * 3 + 3)), bq = Array.from(frame.rot.subarray(g.body * 4, g.body * 4 + 4));
          p = V.add(bp, rotate(bq, g.pos)); q = quatMul(bq, g.quat);
        }
        return M.pose(p, q, it.scale);
      });
    }
    resize() {
      const c = this.canvas, dpr = window.devicePixelRatio || 1;
      const w = Math.max(1, Math.round(c.clientWidth * dpr)), h = Math.max(1, Math.round(c.clientHeight * dpr));
      if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
    }
    draw(frame, cam, opts = {}) {
      const gl = this.gl;
      this.resize();
      const mats = this.matrices(frame), vp = cam.viewProj(this.canvas.width / this.canvas.height);
      const lightVP = this.lightViewProj(cam);
      // Shadow map: depth of everything but the planes, seen from the light.
      gl.bindFramebuffer(gl.FRAMEBUFFER, this.shadowFbo);
      gl.viewport(0, 0, SHADOW_SIZE, SHADOW_SIZE);
      gl.enable(gl.DEPTH_TEST); gl.clear(gl.DEPTH_BUFFER_BIT);
      gl.enable(gl.POLYGON_OFFSET_FILL); gl.polygonOffset(2, 4);
      gl.useProgram(this.flat.prog);
      this.items.forEach((it, i) => { if (!it.plane) this.drawFlat(it.mesh, M.mul(lightVP, mats[i])); });
      gl.disable(gl.POLYGON_OFFSET_FILL);
      gl.bindFramebuffer(gl.FRAMEBUFFER, null);
      gl.viewport(0, 0, this.canvas.width, this.canvas.height);
      gl.clearColor(...SKY, 1); gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
      const P = this.lit;
      gl.useProgram(P.prog);
      gl.uniformMatrix4fv(P.u.uViewProj, false, vp); gl.uniformMatrix4fv(P.u.uLightVP, false, lightVP);
      gl.uniform3fv(P.u.uLight, LIGHT); gl.uniform3fv(P.u.uEye, cam.eye()); gl.uniform3fv(P.u.uSky, SKY);
      gl.uniform1f(P.u.uFogFar, Math.max(40, 8 * cam.distance));
      gl.activeTexture(gl.TEXTURE0); gl.bindTexture(gl.TEXTURE_2D, this.shadowTex); gl.uniform1i(P.u.uShadow, 0);
      const order = this.items.map((_, i) => i).sort((a, b) => (this.items[a].geom.rgba[3] < 1) - (this.items[b].geom.rgba[3] < 1));
      for (const i of order) {
        const it = this.items[i], transparent = it.geom.rgba[3] < 1;
        if (transparent) { gl.enable(gl.BLEND); gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA); gl.depthMask(false); }
        const hot = opts.highlight >= 0 && it.geom.body === opts.highlight;
        gl.uniform3fv(P.u.uTint, hot ? [0.18, 0.14, 0.0] : [0, 0, 0]);
        gl.uniformMatrix4fv(P.u.uModel, false, mats[i]); gl.uniform3fv(P.u.uScale, it.scale);
        gl.uniform4fv(P.u.uColor, it.geom.rgba); gl.uniform1f(P.u.uGrid, it.grid);
        gl.bindVertexArray(it.mesh.vao); gl.drawElements(gl.TRIANGLES, it.mesh.count, gl.UNSIGNED_INT, 0);
        if (transparent) { gl.disable(gl.BLEND); gl.depthMask(true); }
      }
      if (opts.contacts && frame.contacts) this.drawContacts(frame.contacts, vp, cam);
      if (opts.line) this.drawLines(opts.line, vp, [1, 0.55, 0, 1]);
      gl.bindVertexArray(null);
    }
    drawFlat(mesh, mvp) {
      const gl = this.gl;
      gl.uniformMatrix4fv(this.flat.u.uMVP, false, mvp);
      gl.bindVertexArray(mesh.vao); gl.drawElements(gl.TRIANGLES, mesh.count, gl.UNSIGNED_INT, 0);
    }
    lightViewProj(cam) {
      const h = Math.min(Math.max(1.5 * cam.distance, 2), 60), t = cam.target;
      const eye = V.add(t, V.scale(LIGHT, 4 * h));
      const right = V.norm(V.cross([0, 0, 1], LIGHT)), up = V.cross(LIGHT, right);
      return M.mul(M.ortho(h, 0.1, 8 * h), M.view(eye, right, up, LIGHT));
    }
    // Contact points (red dots) and forces (lines; the model's weight is 0.2 view distances), drawn over everything.
    drawContacts(c, vp, cam) {
      const gl = this.gl, n = c.pos.length / 3;
      if (!n) return;
      gl.disable(gl.DEPTH_TEST);
      gl.useProgram(this.flat.prog);
      gl.uniform4fv(this.flat.u.uColor, [0.9, 0.1, 0.1, 1]);
      const r = 0.012 * cam.distance, lines = [], scale = (0.2 * cam.distance) / this.forceScale;
      for (let i = 0; i < n; i++) {
        const p = Array.from(c.pos.subarray(3 * i, 3 * i + 3));
        this.drawFlat(this.shapes.sphere, M.mul(vp, M.pose(p, [1, 0, 0, 0], [r, r, r])));
        lines.push(...p, ...V.add(p, V.scale(Array.from(c.force.subarray(3 * i, 3 * i + 3)), scale)));
      }
      this.drawLines(lines, vp, [0.1, 0.3, 0.95, 1]);
      gl.enable(gl.DEPTH_TEST);
    }
    drawLines(points, vp, color) {
      const gl = this.gl;
      gl.disable(gl.DEPTH_TEST);
      gl.useProgram(this.flat.prog);
      gl.uniform4fv(this.flat.u.uColor, color); gl.uniformMatrix4fv(this.flat.u.uMVP, false, vp);
      gl.bindVertexArray(this.lineVao);
      gl.bindBuffer(gl.ARRAY_BUFFER, this.lineBuf); gl.bufferData(gl.ARRAY_BUFFER, new Float32Array(points), gl.DYNAMIC_DRAW);
      gl.drawArrays(gl.LINES, 0, points.length / 3);
      gl.enable(gl.DEPTH_TEST);
    }
    // Body index under canvas pixel (x, y) (CSS px from the top-left), -1 for none or the world.
    pick(frame, cam, x, y) {
      const gl = this.gl, w = this.canvas.width, h = this.canvas.height;
      if (!this.pickFbo || this.pickSize[0] !== w || this.pickSize[1] !== h) this.makePickTarget(w, h);
      const mats = this.matrices(frame), vp = cam.viewProj(w / h);
      gl.bindFramebuffer(gl.FRAMEBUFFER, this.pickFbo);
      gl.viewport(0, 0, w, h); gl.clearColor(0, 0, 0, 0); gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
      gl.enable(gl.DEPTH_TEST); gl.useProgram(this.flat.prog);
      this.items.forEach((it, i) => {
        const id = it.geom.body + 1;
        gl.uniform4fv(this.flat.u.uColor, [(id & 255) / 255, ((id >> 8) & 255) / 255, 0, 1]);
        this.drawFlat(it.mesh, M.mul(vp, mats[i]));
      });
      const dpr = w / this.canvas.clientWidth, px = new Uint8Array(4);
      gl.readPixels(Math.floor(x * dpr), Math.floor(h - 1 - y * dpr), 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
      gl.bindFramebuffer(gl.FRAMEBUFFER, null); gl.bindVertexArray(null);
      return px[0] + 256 * px[1] - 1;
    }
    makePickTarget(w, h) {
      const gl = this.gl;
      if (this.pickFbo) { gl.deleteFramebuffer(this.pickFbo); gl.deleteRenderbuffer(this.pickColor); gl.deleteRenderbuffer(this.pickDepth); }
      this.pickFbo = gl.createFramebuffer(); this.pickColor = gl.createRenderbuffer(); this.pickDepth = gl.createRenderbuffer();
      gl.bindRenderbuffer(gl.RENDERBUFFER, this.pickColor); gl.renderbufferStorage(gl.RENDERBUFFER, gl.RGBA8, w, h);
      gl.bindRenderbuffer(gl.RENDERBUFFER, this.pickDepth); gl.renderbufferStorage(gl.RENDERBUFFER, gl.DEPTH_COMPONENT24, w, h);
      gl.bindFramebuffer(gl.FRAMEBUFFER, this.pickFbo);
      gl.framebufferRenderbuffer(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.RENDERBUFFER, this.pickColor);
      gl.framebufferRenderbuffer(gl.FRAMEBUFFER, gl.DEPTH_ATTACHMENT, gl.RENDERBUFFER, this.pickDepth);
      gl.bindFramebuffer(gl.FRAMEBUFFER, null);
      this.pickSize = [w, h];
    }
  }

  // ---------------------------------------------------------------- camera
  // Orbit camera with MuJoCo's free-camera angles: azimuth about z (90: looking
  // along +y), elevation below zero looking down.
  class OrbitCamera {
    constructor() { this.target = [0, 0, 0]; this.distance = 4; this.azimuth = 90; this.elevation = -20; this.fovy = 45; this.offset = [0, 0, 0]; }
    basis() {
      const az = (this.azimuth * Math.PI) / 180, el = (this.elevation * Math.PI) / 180;
      const fwd = [Math.cos(el) * Math.cos(az), Math.cos(el) * Math.sin(az), Math.sin(el)];
      const back = V.scale(fwd, -1), right = V.norm(V.cross([0, 0, 1], back)), up = V.cross(back, right);
      return { fwd, back, right, up };
    }
    eye() { return V.sub(this.target, V.scale(this.basis().fwd, this.distance)); }
    viewProj(aspect) {
      const b = this.basis();
      const near = Math.max(0.01 * this.distance, 0.005), far = Math.max(200, 100 * this.distance);
      return M.mul(M.perspective(this.fovy, aspect, near, far), M.view(this.eye(), b.right, b.up, b.back));
    }
    // World ray through canvas pixel (x, y) in CSS px.
    ray(x, y, w, h) {
      const b = this.basis(), t = Math.tan((this.fovy * Math.PI) / 360);
      const u = ((2 * x) / w - 1) * t * (w / h), v = (1 - (2 * y) / h) * t;
      return { origin: this.eye(), dir: V.norm(V.add(b.fwd, V.add(V.scale(b.right, u), V.scale(b.up, v)))) };
    }
  }

  // ---------------------------------------------------------------- UI
  function el(tag, attrs = {}, parent = null) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }
  function showError(msg) {
    const box = document.getElementById("tb-error");
    box.textContent = msg || ""; box.style.display = msg ? "block" : "none";
  }

  class App {
    constructor(root) {
      this.canvas = el("canvas", { id: "tb-canvas" }, root);
      this.bar = el("div", { id: "tb-bar" }, root);
      this.tip = el("div", { id: "tb-tip" }, root);
      this.renderer = new Renderer(this.canvas);
      this.cam = new OrbitCamera();
      this.follow = -1; this.hover = -1; this.contacts = false; this.frame = null; this.drag = null;
      this.bindMouse();
    }
    setScene(scene, buf, firstFrame) {
      this.scene = scene;
      this.renderer.setScene(scene, buf);
      const sel = this.followSelect;
      if (sel) {
        sel.innerHTML = "";
        el("option", { value: -1, text: "free camera" }, sel);
        scene.bodies.forEach((n, i) => el("option", { value: i, text: "follow " + n }, sel));
        if (this.follow >= scene.bodies.length) this.follow = -1;
        sel.value = this.follow;
      }
      this.hover = -1;
      if (!this.framed && firstFrame) { this.frameView(firstFrame); this.framed = true; }
    }
    // Initial view: follow the first moving body (or look at all bodies) from a distance that shows the model.
    frameView(frame) {
      const n = this.scene.bodies.length;
      let c = [0, 0, 0];
      for (let b = 0; b < n; b++) c = V.add(c, Array.from(frame.pos.subarray(3 * b, 3 * b + 3)));
      this.cam.target = n ? V.scale(c, 1 / n) : [0, 0, 0];
      let r = this.renderer.extent;
      for (let b = 0; b < n; b++) r = Math.max(r, Math.hypot(...V.sub(Array.from(frame.pos.subarray(3 * b, 3 * b + 3)), this.cam.target)) + 0.5);
      this.cam.distance = Math.min(Math.max(2.5 * r, 1), 50);
      this.follow = this.scene.follow;
      if (this.followSelect) this.followSelect.value = this.follow;
    }
    addFollowAndContacts() {
      this.followSelect = el("select", { title: "camera" }, this.bar);
      this.followSelect.onchange = () => { this.follow = +this.followSelect.value; this.cam.offset = [0, 0, 0]; this.redraw(); };
      const label = el("label", { title: "draw contact points and forces" }, this.bar);
      const box = el("input", { type: "checkbox", id: "tb-contacts" }, label);
      label.appendChild(document.createTextNode(" contacts"));
      box.onchange = () => { this.contacts = box.checked; this.redraw(); };
    }
    redraw() {
      if (!this.frame) return;
      if (this.follow >= 0) this.cam.target = V.add(Array.from(this.frame.pos.subarray(3 * this.follow, 3 * this.follow + 3)), this.cam.offset);
      this.renderer.draw(this.frame, this.cam, { contacts: this.contacts, highlight: this.hover, line: this.drag && this.drag.line });
    }
    pickAt(x, y) { return this.frame ? this.renderer.pick(this.frame, this.cam, x, y) : -1; }
    // Point where the mouse ray meets the plane through p facing the camera.
    dragPoint(x, y, p) {
      const r = this.cam.ray(x, y, this.canvas.clientWidth, this.canvas.clientHeight), n = this.cam.basis().fwd;
      const t = V.dot(V.sub(p, r.origin), n) / V.dot(r.dir, n);
      return V.add(r.origin, V.scale(r.dir, t));
    }
    bindMouse() {
      const c = this.canvas;
      let last = null;
      c.addEventListener("contextmenu", (e) => e.preventDefault());
      c.addEventListener("mousedown", (e) => {
        last = [e.clientX, e.clientY, e.button === 2 || e.shiftKey];
        if (this.onPush && e.button === 0 && !e.shiftKey) {
          const b = this.pickAt(e.offsetX, e.offsetY);
          if (b >= 0) {
            const p = Array.from(this.frame.pos.subarray(3 * b, 3 * b + 3));
            this.drag = { body: b, start: p, line: [...p, ...p] };
            last = null;
          }
        }
      });
      window.addEventListener("mouseup", (e) => {
        if (this.drag) {
          const r = c.getBoundingClientRect(), q = this.dragPoint(e.clientX - r.left, e.clientY - r.top, this.drag.start);
          this.onPush(this.drag.body, V.sub(q, this.drag.start));
          this.drag = null; this.redraw();
        }
        last = null;
      });
      window.addEventListener("mousemove", (e) => {
        const r = c.getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top;
        if (this.drag) { this.drag.line = [...this.drag.start, ...this.dragPoint(x, y, this.drag.start)]; this.redraw(); return; }
        if (last) {
          const dx = e.clientX - last[0], dy = e.clientY - last[1];
          if (last[2]) {  // pan
            const b = this.cam.basis(), s = (this.cam.distance * 2 * Math.tan((this.cam.fovy * Math.PI) / 360)) / c.clientHeight;
            const move = V.add(V.scale(b.right, -dx * s), V.scale(b.up, dy * s));
            this.cam.offset = V.add(this.cam.offset, move); this.cam.target = V.add(this.cam.target, move);
          } else {
            this.cam.azimuth -= 0.4 * dx;
            this.cam.elevation = Math.min(89, Math.max(-89, this.cam.elevation - 0.4 * dy));
          }
          last[0] = e.clientX; last[1] = e.clientY; this.redraw();
        } else if (e.target === c) this.hoverAt(x, y, e.clientX, e.clientY);
      });
      c.addEventListener("mouseleave", () => { this.hover = -1; this.tip.style.display = "none"; this.redraw(); });
      c.addEventListener("wheel", (e) => {
        e.preventDefault();
        this.cam.distance = Math.min(Math.max(this.cam.distance * Math.exp(0.001 * e.deltaY), 0.05), 500); this.redraw();
      }, { passive: false });
    }
    hoverAt(x, y, cx, cy) {
      const b = this.pickAt(x, y);
      if (b !== this.hover) { this.hover = b; this.redraw(); }
      if (b >= 0) {
        this.tip.textContent = this.scene.bodies[b];
        this.tip.style.left = cx + 12 + "px"; this.tip.style.top = cy + 12 + "px"; this.tip.style.display = "block";
      } else this.tip.style.display = "none";
    }
    // RGBA pixels of the canvas as drawn now (for tests): {width, height, data: base64}.
    pixels() {
      this.redraw();
      const gl = this.renderer.gl, w = this.canvas.width, h = this.canvas.height, px = new Uint8Array(w * h * 4);
      gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, px);
      let s = "";
      for (let i = 0; i < px.length; i += 0x8000) s += String.fromCharCode.apply(null, px.subarray(i, i + 0x8000));
      return { width: w, height: h, data: btoa(s) };
    }
  }

  // ---------------------------------------------------------------- player (a recorded trajectory)
  class Player {
    constructor(app, traj) {
      this.app = app; this.traj = traj; this.t = traj.time[0]; this.playing = traj.frames > 1; this.speed = 1; this.wall = null;
      const bar = app.bar;
      this.button = el("button", { id: "tb-play", title: "play / pause (space)" }, bar);
      this.button.onclick = () => this.toggle();
      this.slider = el("input", { id: "tb-timeline", type: "range", min: 0, max: Math.max(traj.frames - 1, 0), step: 1, value: 0 }, bar);
      this.slider.oninput = () => { this.playing = false; this.seek(+this.slider.value); };
      this.clock = el("span", { id: "tb-time" }, bar);
      this.speedSelect = el("select", { id: "tb-speed", title: "playback speed" }, bar);
      for (const s of [0.1, 0.25, 0.5, 1, 2, 4]) el("option", { value: s, text: s + "x" }, this.speedSelect);
      this.speedSelect.value = 1;
      this.speedSelect.onchange = () => { this.speed = +this.speedSelect.value; };
      app.addFollowAndContacts();
      window.addEventListener("keydown", (e) => {
        if (e.target.tagName === "INPUT" && e.target.type !== "range") return;
        if (e.key === " ") { e.preventDefault(); this.toggle(); }
        if (e.key === "ArrowRight" || e.key === "ArrowLeft") { e.preventDefault(); this.playing = false; this.seek(this.index() + (e.key === "ArrowRight" ? 1 : -1)); }
      });
    }
    index() { return sample(this.traj, this.t).frame; }
    toggle() { if (!this.playing && this.t >= this.traj.time[this.traj.frames - 1]) this.t = this.traj.time[0]; this.playing = !this.playing; this.wall = null; this.update(); }
    // Shows frame i (clamped) and stops nothing else.
    seek(i) { i = Math.min(Math.max(Math.round(i), 0), this.traj.frames - 1); this.t = this.traj.time[i]; this.update(); }
    update() {
      const T = this.traj.time, f = sample(this.traj, this.t);
      this.app.frame = f;
      this.slider.value = f.frame;
      this.clock.textContent = `${this.t.toFixed(2)} / ${T[T.length - 1].toFixed(2)} s`;
      this.button.textContent = this.playing ? "\u275a\u275a" : "\u25b6";
      this.app.redraw();
    }
    tick(now) {
      if (this.playing) {
        if (this.wall !== null) this.t += ((now - this.wall) / 1000) * this.speed;
        const end = this.traj.time[this.traj.frames - 1];
        if (this.t >= end) { this.t = end; this.playing = false; }
        this.update();
      }
      this.wall = now;
    }
  }

  // ---------------------------------------------------------------- live (tumble view)
  class Live {
    constructor(app) {
      this.app = app; this.version = -1; this.busy = false;
      const bar = app.bar;
      this.pause = el("button", { id: "tb-pause", title: "pause / run" }, bar);
      this.pause.onclick = () => this.control(this.paused ? "run" : "pause");
      el("button", { id: "tb-step", text: "step", title: "advance one step (while paused)" }, bar).onclick = () => this.control("step");
      el("button", { id: "tb-reset", text: "reset", title: "start over" }, bar).onclick = () => this.control("reset");
      this.clock = el("span", { id: "tb-time" }, bar);
      app.addFollowAndContacts();
      el("span", { class: "tb-hint", text: "drag a body to push it" }, bar);
      app.onPush = (body, delta) => this.post("/api/push", { body, velocity: V.scale(delta, 3) });
    }
    async post(url, body) {
      try { await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }); }
      catch (e) { showError("lost the tumble view server: " + e); }
    }
    control(action) { this.post("/api/control", { action }).then(() => this.poll()); }
    async poll() {
      if (this.busy) return;
      this.busy = true;
      try {
        const s = await (await fetch("/api/state")).json();
        showError(s.error);
        if (s.version !== this.version && s.pos) {
          const sc = await (await fetch("/api/scene")).json();
          const buf = sc.blob ? await inflate(sc.blob) : new ArrayBuffer(0);
          this.version = sc.version;
          this.app.setScene(sc.scene, buf, this.toFrame(s));
        }
        this.paused = s.paused;
        this.pause.textContent = s.paused ? "\u25b6 run" : "\u275a\u275a pause";
        this.clock.textContent = `t = ${(s.time || 0).toFixed(2)} s${s.paused ? " (paused)" : ""}`;
        const key = `${s.version} ${s.time}`;
        if (s.pos && this.version === s.version && key !== this.shown) { this.shown = key; this.app.frame = this.toFrame(s); this.app.redraw(); }
      } catch (e) {
        showError("lost the tumble view server: " + e);
      } finally { this.busy = false; }
    }
    toFrame(s) {
      const c = s.contacts;
      return { pos: Float32Array.from(s.pos), rot: Float32Array.from(s.rot),
        contacts: c ? { pos: Float32Array.from(c.pos), force: Float32Array.from(c.force) } : null };
    }
  }

  // ---------------------------------------------------------------- start
  async function start() {
    const root = document.getElementById("tb-root");
    const header = JSON.parse(document.getElementById("tb-header").textContent);
    const app = new App(root);
    const api = { app, ready: false };
    window.tumble = api;
    if (header.live) {
      const live = new Live(app);
      api.live = live;
      const loop = () => { live.poll(); setTimeout(loop, 1000 / 30); };
      loop();
    } else {
      const buf = await inflate(document.getElementById("tb-data").textContent.trim());
      const traj = decodeTrajectory(header.trajectory, buf, header.scene.bodies.length);
      const player = new Player(app, traj);
      app.setScene(header.scene, buf, sample(traj, traj.time[0]));
      player.update();
      api.player = player;
      api.seek = (i) => { player.playing = false; player.seek(i); };
      const loop = (now) => { player.tick(now); requestAnimationFrame(loop); };
      requestAnimationFrame(loop);
    }
    window.addEventListener("resize", () => app.redraw());
    api.setCamera = (c) => { Object.assign(app.cam, c); if ("follow" in c) app.follow = c.follow; app.cam.offset = [0, 0, 0]; app.redraw(); };
    api.pixels = () => app.pixels();
    api.pick = (x, y) => app.pickAt(x, y);
    api.ready = true;
  }
  window.addEventListener("load", () => start().catch((e) => { console.error(e); showError("viewer: " + e.message); }));
})();
