/*
 * What every EqualNet node's editor script shares, loaded once per node file with
 *   <script src="resources/node-red-contrib-equalnet/editor.js"></script>
 * (Node-RED 1.3+ serves a module's resources/ folder there; the editor loads it before the
 * node's own script runs). Texts stay in nodes/locales (docs/editor.md).
 */
(function () {
    if (window.EqualNetEditor) { return; }
    var SHARED = 'node-red-contrib-equalnet/equalnet-config:equalnet.';
    var NETNS = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
    window.EqualNetEditor = {
        /**
         * Registers a node type. Node-RED 4 marks a field and shows a validator's text only for a
         * validator with two parameters (a text from a one-parameter one counts as valid), so each
         * is wrapped once here. A property missing from the flow (an older or hand-written flow)
         * is not flagged: the runtime uses its default.
         */
        register: function (type, def) {
            Object.keys(def.defaults).forEach(function (p) {
                var check = def.defaults[p].validate;
                if (check) { def.defaults[p].validate = function (v, opt) { return v === undefined ? true : check.call(this, v, opt); }; }
            });
            RED.nodes.registerType(type, def);
        },
        /** The Namespace property (arp-discover, iface-counter, tc-shaper): empty, or a name `ip netns` takes (the runtime's netnsNameProblem). */
        netns: function (getDef) {
            return {
                value: '',
                validate: function (v) { return v === '' || v === undefined || NETNS.test(v) ? true : getDef()._(SHARED + 'errors.netns'); }
            };
        }
    };
})();
