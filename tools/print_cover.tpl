<div class="book-cover">
  <h1>{{ config.site_name }}</h1>
  <p class="book-cover__subtitle">Attention, derived, implemented and measured</p>
  <p class="book-cover__meta">Version {{ config.extra.version }} &middot; built {{ config.extra.build_date }}</p>
  <p class="book-cover__licence">Text under CC BY 4.0 &middot; code under the MIT licence</p>
</div>
