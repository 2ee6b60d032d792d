/* siting maps: GeoJSON layers with tooltips and popups, fullscreen and distance measure
 * controls. Plain Leaflet 1.9, no network. */
var siting = (function () {
  var ESC = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'};

  function esc(v) { return String(v).replace(/[&<>"']/g, function (c) { return ESC[c]; }); }

  function fmt(v) {
    if (v === null || v === undefined || v === '') return null;
    if (typeof v === 'number') {
      return Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en') : String(Math.round(v * 100) / 100);
    }
    return esc(v);
  }

  function table(p, fields) {
    var rows = [];
    fields.forEach(function (f) {
      var v = fmt(p[f[0]]);
      if (v !== null) rows.push('<tr><th>' + esc(f[1]) + '</th><td>' + v + '</td></tr>');
    });
    return rows.length ? '<table class="siting-table">' + rows.join('') + '</table>' : '';
  }

  /* One switchable layer from a FeatureCollection.
   * o: {data, style, tooltip: [[field, label]], popup: [[field, label]], title: field,
   *     point: 'circle' | 'rank', cluster: bool} ; feature property _color overrides fillColor,
   *     and the background of numbered markers; _link makes a click open that page. */
  function geoLayer(o) {
    var group = o.cluster ? L.markerClusterGroup({maxClusterRadius: 40, showCoverageOnHover: false})
                          : L.featureGroup();
    L.geoJSON(o.data, {
      style: function (f) {
        var s = L.extend({}, o.style);
        if (f.properties._color) s.fillColor = f.properties._color;
        return s;
      },
      pointToLayer: function (f, ll) {
        if (o.point === 'rank') {
          var marker = L.marker(ll, {icon: L.divIcon({className: 'siting-rank', html: esc(f.properties.rank),
                                                      iconSize: [24, 24]}), riseOnHover: true});
          var colour = f.properties._color;  // why the site was placed
          if (colour) marker.on('add', function () { if (this._icon) this._icon.style.background = colour; });
          return marker;
        }
        return L.circleMarker(ll, L.extend({}, o.style));
      },
      onEachFeature: function (f, layer) {
        var p = f.properties;
        if (o.tooltip.length) layer.bindTooltip(table(p, o.tooltip), {sticky: true});
        if (o.popup.length) {
          var head = o.title && p[o.title] !== undefined ? '<h4>' + esc(p[o.title]) + '</h4>' : '';
          layer.bindPopup('<div class="siting-panel">' + head + table(p, o.popup) + '</div>');
        }
        if (p._link) layer.on('click', function () { window.location.href = p._link; });
      }
    }).eachLayer(function (l) { group.addLayer(l); });
    return group;
  }

  function panel(position, html) {
    var c = L.control({position: position});
    c.onAdd = function () {
      var div = L.DomUtil.create('div', 'siting-panel');
      div.innerHTML = html;
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    return c;
  }

  function button(container, title, symbol, onClick) {
    var a = L.DomUtil.create('a', '', container);
    a.href = '#';
    a.title = title;
    a.setAttribute('role', 'button');
    a.setAttribute('aria-label', title);
    a.innerHTML = symbol;
    L.DomEvent.disableClickPropagation(container);
    L.DomEvent.on(a, 'click', function (e) { L.DomEvent.preventDefault(e); onClick(); });
    return a;
  }

  var Fullscreen = L.Control.extend({
    options: {position: 'topleft'},
    onAdd: function (map) {
      var c = L.DomUtil.create('div', 'leaflet-bar siting-fullscreen');
      var el = map.getContainer();
      function fallback() { L.DomUtil.hasClass(el, 'siting-fs') ? L.DomUtil.removeClass(el, 'siting-fs')
                                                                  : L.DomUtil.addClass(el, 'siting-fs');
                            map.invalidateSize(); }
      button(c, 'Full screen', '<svg width="14" height="14" viewBox="0 0 14 14" style="vertical-align:middle">' +
        '<path d="M1 5V1h4M9 1h4v4M13 9v4H9M5 13H1V9" fill="none" stroke="#333" stroke-width="2"/></svg>', function () {
        if (document.fullscreenElement) { document.exitFullscreen(); return; }
        if (L.DomUtil.hasClass(el, 'siting-fs') || !el.requestFullscreen) { fallback(); return; }
        el.requestFullscreen().catch(fallback);
      });
      document.addEventListener('fullscreenchange', function () { map.invalidateSize(); });
      return c;
    }
  });

  function distanceText(m) { return m < 1000 ? Math.round(m) + ' m' : (m / 1000).toFixed(2) + ' km'; }

  /* Click points on the map to measure a path; click the button again to stop. */
  var Measure = L.Control.extend({
    options: {position: 'topleft'},
    onAdd: function (map) {
      var c = L.DomUtil.create('div', 'leaflet-bar siting-measure');
      this._map = map;
      this._on = false;
      this._points = [];
      this._line = L.polyline([], {color: '#111', weight: 2, dashArray: '6 4', interactive: false});
      this._label = L.tooltip({permanent: true, direction: 'right', className: 'siting-measure-label'});
      this._container = c;
      var self = this;
      button(c, 'Measure distance (click points; click here again to stop)', '&#x2194;', function () { self.toggle(); });
      return c;
    },
    toggle: function () {
      var map = this._map;
      this._on = !this._on;
      var add = this._on ? L.DomUtil.addClass : L.DomUtil.removeClass;
      add(map.getContainer(), 'siting-measuring');
      add(this._container, 'active');
      if (this._on) {
        this._points = [];
        this._line.setLatLngs([]).addTo(map);
        map.removeLayer(this._label);
        map.on('click', this._add, this);
        map.doubleClickZoom.disable();
      } else {
        map.off('click', this._add, this);
        map.doubleClickZoom.enable();
      }
    },
    distance: function () {
      var d = 0;
      for (var i = 1; i < this._points.length; i++) d += this._map.distance(this._points[i - 1], this._points[i]);
      return d;
    },
    _add: function (e) {
      this._points.push(e.latlng);
      this._line.setLatLngs(this._points);
      this._label.setLatLng(e.latlng).setContent(distanceText(this.distance()));
      if (!this._map.hasLayer(this._label)) this._label.addTo(this._map);
    }
  });

  return {esc: esc, fmt: fmt, table: table, geoLayer: geoLayer, panel: panel,
          Fullscreen: Fullscreen, Measure: Measure, distanceText: distanceText};
})();
