// A small line graph on a canvas: the last 60 samples of one figure.

const POINTS = 60;

export class Graph {
  constructor(label, format) {
    this.values = [];
    this.format = format;
    this.element = document.createElement('figure');
    this.element.className = 'graph';
    this.canvas = document.createElement('canvas');
    this.canvas.width = 600;
    this.canvas.height = 120;
    this.canvas.setAttribute('role', 'img');
    this.caption = document.createElement('figcaption');
    this.label = label;
    this.caption.textContent = `${label}: no sample yet`;
    this.canvas.setAttribute('aria-label', this.caption.textContent);
    this.element.append(this.caption, this.canvas);
  }

  push(value) {
    this.values.push(value);
    if (this.values.length > POINTS) this.values.shift();
    this.caption.textContent = `${this.label}: ${this.format(value)}`;
    this.canvas.setAttribute('aria-label', this.caption.textContent);
    this.draw();
  }

  draw() {
    const { canvas, values } = this;
    const g = canvas.getContext('2d');
    const [w, h] = [canvas.width, canvas.height];
    g.clearRect(0, 0, w, h);
    const top = Math.max(1, ...values) * 1.1;
    g.strokeStyle = '#2a6f97';
    g.lineWidth = 2;
    g.beginPath();
    values.forEach((v, i) => {
      const x = (i / (POINTS - 1)) * w;
      const y = h - (v / top) * h;
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  }
}
